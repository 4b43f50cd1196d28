//! Turning IDL names into Rust identifiers.

use proc_macro2::{Ident, Span};

/// Rust keywords that can be written as raw identifiers (`r#type`).
const RAW_OK: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers; a trailing underscore is added instead.
const NO_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// `sServantName` → `s_servant_name`, `iRet` → `i_ret`, `URL` → `url`, `HTTPCode` → `http_code`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier for `name`, escaped when it is a Rust keyword.
pub fn ident(name: &str) -> Ident {
    if NO_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if RAW_OK.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Names the generated methods use for their own locals and parameters; IDL parameters with
/// these names get a trailing underscore.
const GENERATED_LOCALS: &[&str] = &[
    "current",
    "params",
    "out",
    "options",
    "reply",
    "reader",
    "pending",
    "ret",
    "responder",
    "implementation",
    "other",
    "callback",
];

/// The Rust identifier of an operation parameter, kept clear of the generated locals.
pub fn param_ident(name: &str) -> Ident {
    let snake = snake_case(name);
    if GENERATED_LOCALS.contains(&snake.as_str()) {
        Ident::new(&format!("{snake}_"), Span::call_site())
    } else {
        ident(&snake)
    }
}

/// The Rust field / parameter / method identifier for an IDL member name.
pub fn member_ident(name: &str) -> Ident {
    ident(&snake_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_tars_names() {
        assert_eq!(snake_case("sServantName"), "s_servant_name");
        assert_eq!(snake_case("iRet"), "i_ret");
        assert_eq!(snake_case("URL"), "url");
        assert_eq!(snake_case("HTTPCode"), "http_code");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("vec2Pos"), "vec2_pos");
        assert_eq!(snake_case("getIP"), "get_ip");
        assert_eq!(snake_case("a"), "a");
    }

    #[test]
    fn params_avoid_generated_locals() {
        assert_eq!(param_ident("params").to_string(), "params_");
        assert_eq!(param_ident("ret").to_string(), "ret_");
        assert_eq!(param_ident("sName").to_string(), "s_name");
        assert_eq!(param_ident("type").to_string(), "r#type");
    }

    #[test]
    fn escapes_keywords() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("name").to_string(), "name");
    }
}
