#[derive(tars_codec::TarsEnum)]
enum Discriminant {
    A = 1,
    #[tars(unknown)]
    Other(i32),
}

#[derive(tars_codec::TarsEnum)]
enum NoValue {
    #[tars(value = 1)]
    A,
    B,
    #[tars(unknown)]
    Other(i32),
}

#[derive(tars_codec::TarsEnum)]
enum TwoCatchAlls {
    #[tars(value = 1)]
    A,
    #[tars(unknown)]
    Other(i32),
    #[tars(unknown)]
    More(i32),
}

#[derive(tars_codec::TarsEnum)]
enum WrongShape {
    #[tars(value = 1)]
    A,
    #[tars(unknown)]
    Other(i64),
}

#[derive(tars_codec::TarsEnum)]
enum SameValue {
    #[tars(value = 1)]
    A,
    #[tars(value = 1)]
    B,
}

#[derive(tars_codec::TarsStruct)]
#[tars(crate = "not a path")]
struct BadCrate {
    #[tars(tag = 0)]
    a: i32,
}

fn main() {}
