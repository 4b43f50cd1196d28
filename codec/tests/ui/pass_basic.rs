use tars_codec::{TarsEnum, TarsStruct};

#[derive(TarsEnum)]
#[tars(name = "M.E")]
enum E {
    A = 1,
    B,
}

#[derive(TarsStruct)]
#[tars(class = "M.S")]
struct S {
    #[tars(tag = 1, optional, default = E::B)]
    e: E,
    #[tars(tag = 0, require)]
    a: i32,
    #[tars(tag = 255, default = "hi")]
    s: String,
}

fn main() {
    let s = <S as tars_codec::TarsValue>::tars_default();
    assert_eq!(s.s, "hi");
    assert_eq!(tars_codec::TarsEnum::to_i32(&s.e), 2);
    let _ = s.a;
}
