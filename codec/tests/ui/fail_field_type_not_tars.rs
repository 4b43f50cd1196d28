struct NotTars;

#[derive(tars_codec::TarsStruct)]
struct S {
    #[tars(tag = 0)]
    a: NotTars,
}
fn main() {}
