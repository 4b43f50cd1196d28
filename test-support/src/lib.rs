//! # tars-test-support
//!
//! What the tars-rs test suites share, so no test file carries its own copy:
//!
//! - [`servants`]: small servants ([`Echo`], [`Who`], [`ContextEcho`]) and typed calls to them.
//! - [`net`]: servers on 127.0.0.1 with a free port ([`serve`], [`serve_adapter`] for tuned
//!   adapters, [`one_servant`]), proxies to them, free ports, registry instances ([`instance`]).
//! - [`process`]: a child process whose `READY ...` line is read with a timeout, signalled and
//!   killed by pid (always, also when the test fails).
//! - [`wait`]: bounded waits ([`wait_until`], [`poll_until`], [`poll_until_ok`]) and a [`Gate`]
//!   that holds a servant's calls until the test opens it.
//! - `pki` (feature `tls`): a test CA issuing server and client certificates.
//! - `etcd` (feature `etcd`): `TestEtcd`, real etcd members on 127.0.0.1, killed by pid.
//! - `registry` (feature `registry`): `TestRegistry`, the tars-rs registry on 127.0.0.1 with its
//!   data in a temporary directory.
//!
//! The crate's binary `tars-test-server` is an [`Echo`] server that registers with a registry
//! and runs until SIGTERM / SIGINT (`tests/server_lifecycle.rs`).
//!
//! Helpers panic with a message instead of returning errors: they run in tests.
#![deny(missing_docs)]

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod net;
#[cfg(feature = "tls")]
pub mod pki;
pub mod process;
#[cfg(feature = "registry")]
pub mod registry;
pub mod servants;
pub mod wait;

#[cfg(feature = "etcd")]
pub use etcd::TestEtcd;
pub use net::{
    free_port, instance, one_servant, proxy, proxy_string, serve, serve_adapter, serve_on,
    serve_one,
};
pub use process::{raise_open_files, send_signal, ChildProcess, Signal};
#[cfg(feature = "registry")]
pub use registry::TestRegistry;
pub use servants::{ContextEcho, Echo, Who};
pub use wait::{poll_until, poll_until_ok, wait_until, Gate, OpenOnDrop};
