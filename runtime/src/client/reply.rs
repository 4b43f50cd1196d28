//! [`Reply`]: the decoded results of a typed call together with the response's context and
//! status (TarsCpp's `pResponseContext`).

use std::collections::BTreeMap;

use super::error::CallError;
use super::proxy::ReplyBody;
use crate::TarsString;

/// The results of a call and what the server sent with them: what the `op_reply`,
/// `op_reply_async` and `op_reply_callback` forms of generated proxies return.
///
/// ```
/// # use tars::client::Reply;
/// fn seen(reply: &Reply<i32>) -> Option<&str> {
///     reply.context.get("seen").map(|v| v.as_str())
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The decoded results: the return value, or `(ret, out1, out2, ...)` with out
    /// parameters, as the plain call form returns them.
    pub value: T,
    /// The response context the server set (`Current::set_response_context`).
    pub context: BTreeMap<TarsString, TarsString>,
    /// The response status entries.
    pub status: BTreeMap<TarsString, TarsString>,
}

impl<T> Reply<T> {
    /// `value` with the context and status of `body`, the reply it was decoded from.
    pub fn new(value: T, body: ReplyBody) -> Reply<T> {
        let packet = body.into_packet();
        Reply {
            value,
            context: packet.context,
            status: packet.status,
        }
    }

    /// Decodes `body` with `results` (a generated proxy's result reader) and keeps its
    /// context and status with the value.
    pub fn decode(
        body: ReplyBody,
        results: impl FnOnce(&ReplyBody) -> Result<T, CallError>,
    ) -> Result<Reply<T>, CallError> {
        let value = results(&body)?;
        Ok(Reply::new(value, body))
    }

    /// The decoded results, without the context.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The reply with its value mapped by `f`, context and status kept.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            context: self.context,
            status: self.status,
        }
    }
}
