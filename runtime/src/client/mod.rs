//! Client side of calls: [`ServantProxy`] (what generated proxies wrap), per-call
//! [`CallOptions`], [`CallError`], and the [`Invoker`] transport abstraction with the
//! in-process [`LocalInvoker`].

mod error;
mod invoker;
mod local;
mod proxy;
pub(crate) mod timer;

pub use error::CallError;
pub use invoker::{Invoker, ResponseFuture};
pub use local::LocalInvoker;
pub use proxy::{
    CallOptions, ReplyBody, ServantProxy, DEFAULT_ASYNC_TIMEOUT, DEFAULT_SYNC_TIMEOUT,
};
