//! Client side of calls: [`ServantProxy`] (what generated proxies wrap), per-call
//! [`CallOptions`], [`CallError`], [`Reply`] (results with the response context),
//! [`AsyncThreads`] (the threads callback-form calls run their callbacks on), and the
//! [`Invoker`] transport abstraction with the in-process [`LocalInvoker`] (over a
//! [`LocalTarget`], such as the server's `Servants`). The network transport is the client net
//! threads of [`net`]. [`ambient`] holds the per-thread context entries (such as the
//! transaction XID) every call adds to its request.
//!
//! Nothing here imports the server: the client and the server meet only in the codec, the
//! endpoints and the protocols.

pub mod ambient;
mod balance;
mod callback;
mod communicator;
mod error;
mod invoker;
mod local;
pub mod locator;
pub mod net;
pub mod policy;
mod proxy;
mod reply;
mod timer;
mod wait;

pub use balance::{instance_of_endpoint, stable_hash, Selection, ShieldConfig};
pub use callback::{AsyncThreads, AsyncThreadsError, ASYNC_THREAD_PREFIX, DEFAULT_ASYNC_THREADS};
pub use communicator::{Communicator, ProxyError, DEFAULT_REFRESH_INTERVAL};
pub use error::CallError;
pub use invoker::{Invoker, ResponseFuture};
pub use local::{LocalInvoker, LocalReply, LocalResponse, LocalTarget};
pub use locator::{
    Locator, ObjectUpdate, QueryFLocator, QueryLookup, RegistryLocator, WatchError, WatchFuture,
};
pub use net::NetConfig;
pub use policy::{Policy, XID_CONTEXT_KEY};
pub use proxy::{
    CallFuture, CallOptions, ReplyBody, ServantProxy, DEFAULT_ASYNC_TIMEOUT, DEFAULT_SYNC_TIMEOUT,
};
pub use reply::Reply;
pub use timer::{sleep, Sleep};

/// Runs a future (such as the result of an `*_async` proxy call) to completion on the current
/// thread. Proxy futures need no particular executor, so this is all a synchronous caller needs.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}
