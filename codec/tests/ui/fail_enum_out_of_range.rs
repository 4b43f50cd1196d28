#[derive(tars_codec::TarsEnum)]
enum E {
    A = 1,
    B = 4294967296,
}
fn main() {}
