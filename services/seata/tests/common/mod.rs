//! The hand-written byte vectors of `tests/vectors.txt`.
#![allow(dead_code)]

/// `(name, bytes)` for every vector in the file, in file order.
pub fn vectors() -> Vec<(String, Vec<u8>)> {
    let text = include_str!("../vectors.txt");
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (name, hex) = line.split_once('=').expect("`name = hex`");
        out.push((name.trim().to_owned(), unhex(hex)));
    }
    out
}

/// One vector by name.
pub fn vector(name: &str) -> Vec<u8> {
    vectors()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .1
}

/// Hex digits, ignoring spaces and `|`.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .map(|b| (b as char).to_digit(16).expect("hex digit") as u8)
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex length in {s}");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}
