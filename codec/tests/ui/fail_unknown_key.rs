#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 0, requried)]
    a: i32,
}
fn main() {}
