#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 3)]
    a: i32,
    #[tars(tag = 3)]
    b: i32,
}
fn main() {}
