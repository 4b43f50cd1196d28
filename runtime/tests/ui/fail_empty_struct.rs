#[derive(tars::TarsStruct)]
struct S {}
fn main() {}
