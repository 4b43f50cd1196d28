// The derives name the codec through `#[tars(crate = "...")]` when it is re-exported under
// another path.
mod reexport {
    pub use tars_codec as codec;
}

#[derive(Debug, PartialEq, tars_codec::TarsEnum)]
#[tars(crate = "reexport::codec")]
enum E {
    #[tars(value = 3)]
    C,
    #[tars(unknown)]
    Other(i32),
}

#[derive(Debug, PartialEq, tars_codec::TarsStruct)]
#[tars(crate = "crate::reexport::codec", class = "M.S")]
struct S {
    #[tars(tag = 0, require)]
    e: E,
}

fn main() {
    use tars_codec::TarsStruct;
    let s = S { e: E::Other(5) };
    assert_eq!(S::decode_from(&s.encode_to_bytes()).unwrap(), s);
}
