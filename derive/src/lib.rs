//! Derive macros for the Tars codec.
//!
//! ```ignore
//! #[derive(TarsStruct)]
//! #[tars(class = "Demo.User")]
//! struct User {
//!     #[tars(tag = 0, require)]
//!     id: i64,
//!     #[tars(tag = 1, default = "anonymous")]
//!     name: String,
//! }
//!
//! #[derive(TarsEnum)]
//! enum Color { Red = 1, Green = 2 }
//! ```
//!
//! Misuse is reported as a compile error pointing at the offending attribute or item; the
//! macros never panic.

mod attrs;
mod enums;
mod structs;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `tars::codec::TarsStruct` and `tars::codec::TarsValue` for a struct with named
/// fields.
///
/// Container attribute: `#[tars(class = "Module.Name")]` (defaults to the struct's name).
/// Field attribute: `#[tars(tag = N)]` with optional `require` or `optional` (the default) and
/// `default = EXPR` (string literals are converted with `From`). Fields may be declared in any
/// order; they are encoded in ascending tag order.
#[proc_macro_derive(TarsStruct, attributes(tars))]
pub fn derive_tars_struct(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    structs::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `tars::codec::TarsEnum` and `tars::codec::TarsValue` for a fieldless enum.
///
/// Container attribute: `#[tars(name = "Module.Name")]` (defaults to the enum's name).
/// Values are taken from the discriminants; the first variant is the default.
#[proc_macro_derive(TarsEnum, attributes(tars))]
pub fn derive_tars_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    enums::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
