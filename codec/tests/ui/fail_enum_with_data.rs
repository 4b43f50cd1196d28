#[derive(tars_codec::TarsEnum)]
enum E {
    A,
    B(i32),
}
fn main() {}
