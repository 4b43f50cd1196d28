#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 0)]
    a: i32,
    b: i32,
}
fn main() {}
