#[derive(tars_codec::TarsStruct)]
struct S(i32);
fn main() {}
