#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 0, default = "text")]
    a: i32,
}
fn main() {}
