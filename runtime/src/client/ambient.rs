//! The ambient call context: context entries attached to the current thread that every proxy
//! call made on this thread adds to its request context.
//!
//! This is how a global transaction id ([`XID_CONTEXT_KEY`](super::XID_CONTEXT_KEY)) travels
//! from a transaction's body to every service it calls without being passed by hand:
//!
//! ```
//! use tars::client::{ambient, XID_CONTEXT_KEY};
//!
//! {
//!     let _tx = ambient::scope(XID_CONTEXT_KEY, "10.0.0.1:8091:42");
//!     // Every proxy call made here carries TX_XID = 10.0.0.1:8091:42.
//!     assert_eq!(ambient::get(XID_CONTEXT_KEY).as_deref(), Some("10.0.0.1:8091:42"));
//! }
//! assert_eq!(ambient::get(XID_CONTEXT_KEY), None);
//! ```
//!
//! Ambient entries have the lowest priority: a key set by the proxy
//! ([`ServantProxy::with_context`](super::ServantProxy::with_context)) or by the call
//! ([`CallOptions::context`](super::CallOptions::context)) wins over the ambient one.
//!
//! The context is per thread. An asynchronous call (`*_async`) captures it when the call is
//! made, not when its future is polled. To carry it to another thread, take a [`snapshot`]
//! and install it there with [`scope_all`]. When no entry is set, a call pays one
//! thread-local emptiness check.

use crate::TarsString;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

thread_local! {
    static AMBIENT: RefCell<BTreeMap<TarsString, TarsString>> = const { RefCell::new(BTreeMap::new()) };
}

/// Restores the entries a [`scope`] (or [`scope_all`]) replaced when dropped.
///
/// Guards nest: dropping the inner one restores the outer value. They are meant to be dropped
/// in reverse order of creation (as locals are); a guard cannot leave its thread.
#[must_use = "the entry is removed again as soon as the guard is dropped"]
#[derive(Debug)]
pub struct ScopeGuard {
    /// Each replaced key with its previous value, in the order they were set.
    previous: Vec<(TarsString, Option<TarsString>)>,
    /// The guard touches a thread-local: keep it on its thread.
    _not_send: PhantomData<*const ()>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = std::mem::take(&mut self.previous);
        // The thread-local may already be gone when a guard is dropped during thread exit.
        let _ = AMBIENT.try_with(|map| {
            let mut map = map.borrow_mut();
            for (key, value) in previous.into_iter().rev() {
                match value {
                    Some(v) => map.insert(key, v),
                    None => map.remove(&key),
                };
            }
        });
    }
}

/// Sets `key = value` in this thread's ambient context until the returned guard is dropped,
/// which restores the previous value (or removes the key if it had none).
pub fn scope(key: impl Into<TarsString>, value: impl Into<TarsString>) -> ScopeGuard {
    scope_all([(key.into(), value.into())])
}

/// Sets several entries at once (e.g. a [`snapshot`] taken on another thread) until the
/// returned guard is dropped.
pub fn scope_all<I, K, V>(entries: I) -> ScopeGuard
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<TarsString>,
    V: Into<TarsString>,
{
    let previous = AMBIENT.with(|map| {
        let mut map = map.borrow_mut();
        entries
            .into_iter()
            .map(|(k, v)| {
                let key = k.into();
                let old = map.insert(key.clone(), v.into());
                (key, old)
            })
            .collect()
    });
    ScopeGuard {
        previous,
        _not_send: PhantomData,
    }
}

/// Removes `key` from this thread's ambient context until the returned guard is dropped (for
/// calls that must not carry it).
pub fn without(key: &str) -> ScopeGuard {
    let previous = AMBIENT.with(|map| {
        let old = map.borrow_mut().remove(key);
        vec![(TarsString::from(key), old)]
    });
    ScopeGuard {
        previous,
        _not_send: PhantomData,
    }
}

/// The ambient value of `key` on this thread.
pub fn get(key: &str) -> Option<TarsString> {
    AMBIENT.with(|map| map.borrow().get(key).cloned())
}

/// A copy of this thread's ambient context.
pub fn snapshot() -> BTreeMap<TarsString, TarsString> {
    AMBIENT.with(|map| map.borrow().clone())
}

/// Whether this thread has no ambient entry.
pub fn is_empty() -> bool {
    AMBIENT.with(|map| map.borrow().is_empty())
}

/// Adds the ambient entries whose keys `context` lacks (the proxy path; ambient entries have
/// the lowest priority). Costs one thread-local check when there are none.
pub(crate) fn fill(context: &mut BTreeMap<TarsString, TarsString>) {
    // `try_with`: a call made from a thread-local destructor simply gets no ambient entries.
    let _ = AMBIENT.try_with(|map| {
        let map = map.borrow();
        if map.is_empty() {
            return;
        }
        for (k, v) in map.iter() {
            if !context.contains_key(k) {
                context.insert(k.clone(), v.clone());
            }
        }
    });
}
