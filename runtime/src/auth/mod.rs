//! Authentication of connections. [`local`]: TarsCpp's local authentication (endpoint
//! option `-e 1`), on the server side; [`tea`]: the cipher it signs with.

pub mod local;
pub mod tea;

pub use local::{sign, verify, AuthState, BasicAuthPackage};
