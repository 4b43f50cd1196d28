#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(require)]
    a: i32,
}
fn main() {}
