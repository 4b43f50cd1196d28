#[derive(tars::TarsStruct)]
struct S(i32);
fn main() {}
