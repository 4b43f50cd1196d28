//! Helpers shared by the tarsd process tests.

pub mod history;
