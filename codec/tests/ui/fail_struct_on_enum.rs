#[derive(tars_codec::TarsStruct)]
enum E {
    A,
}
fn main() {}
