#[derive(tars::TarsEnum)]
enum E {
    A,
    B(i32),
}
fn main() {}
