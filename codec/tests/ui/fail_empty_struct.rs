#[derive(tars_codec::TarsStruct)]
struct S {}
fn main() {}
