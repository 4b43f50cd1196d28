#[derive(tars::TarsStruct)]
enum E {
    A,
}
fn main() {}
