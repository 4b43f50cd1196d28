#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 0, require, optional)]
    a: i32,
}
fn main() {}
