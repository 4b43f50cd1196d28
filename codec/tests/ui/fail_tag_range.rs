#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 256)]
    a: i32,
}
fn main() {}
