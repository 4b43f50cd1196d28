//! Rust code generation: the checked model is lowered to a Rust-oriented IR ([`ir`]) and
//! printed with `quote` + `prettyplease` ([`rust`]).

pub mod ir;
pub mod lower;
pub mod names;
pub mod rust;

pub use rust::{generate, GenOptions};
