struct NotTars;

#[derive(tars::TarsStruct)]
struct S {
    #[tars(tag = 0)]
    a: NotTars,
}
fn main() {}
