//! Request dyeing: a request marked "dyed" with a key (a user id, an order number) is logged
//! on every hop it makes, so one request can be followed through a whole call chain.
//!
//! On the wire (TarsCpp `ServantProxy::STATUS_DYED_KEY` and `tars::TARSMESSAGETYPEDYED`;
//! @tars/rpc's `TarsCurrent.getDyeingObj()` reads the same two): the request's
//! `iMessageType` has bit [`MESSAGE_TYPE_DYED`] (`0x04`) set and its `status` map carries
//! [`STATUS_DYED_KEY`] = the key.
//!
//! A dyed call is made with [`CallOptions::dyeing`](crate::client::CallOptions::dyeing). While
//! a server serves a dyed request, the key is this thread's [`current`] dye: every call the
//! servant makes on the thread (sync, async, callback, one-way) is dyed with it, and
//! callbacks of callback-form calls run with the dye of the call that made them. Each hop is
//! logged to the [`DyeingLog`] of its server or communicator (when configured) and as a
//! `tracing` event with target [`TRACING_TARGET`].

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{LineWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::TarsString;

/// The status key carrying the dyeing key (TarsCpp's `ServantProxy::STATUS_DYED_KEY`).
pub const STATUS_DYED_KEY: &str = "STATUS_DYED_KEY";

/// The `iMessageType` bit of dyed requests (TarsCpp's `tars::TARSMESSAGETYPEDYED`, 0x04).
pub const MESSAGE_TYPE_DYED: i32 = 0x04;

/// The `tracing` target of dyeing events.
pub const TRACING_TARGET: &str = "tars::dyeing";

thread_local! {
    static DYE: RefCell<Option<TarsString>> = const { RefCell::new(None) };
}

/// Restores the previous dye of the thread when dropped.
#[must_use = "the dye is removed again as soon as the guard is dropped"]
#[derive(Debug)]
pub struct DyeGuard {
    previous: Option<TarsString>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for DyeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = DYE.try_with(|d| *d.borrow_mut() = previous);
    }
}

/// Dyes every call made on this thread with `key` until the guard is dropped.
pub fn scope(key: impl Into<TarsString>) -> DyeGuard {
    let key = key.into();
    let previous = DYE.with(|d| d.borrow_mut().replace(key));
    DyeGuard {
        previous,
        _not_send: PhantomData,
    }
}

/// [`scope`] when `key` is `Some`.
pub fn scope_opt(key: Option<TarsString>) -> Option<DyeGuard> {
    key.map(scope)
}

/// This thread's dye, if calls made here are dyed.
pub fn current() -> Option<TarsString> {
    DYE.try_with(|d| d.borrow().clone()).ok().flatten()
}

/// Whether a request or response with `message_type` and `status` is dyed, and its key (which
/// may be empty: @tars/rpc reports the flag and the key separately).
pub fn key_of(
    message_type: i32,
    status: &std::collections::BTreeMap<TarsString, TarsString>,
) -> Option<&str> {
    if message_type & MESSAGE_TYPE_DYED == 0 {
        return None;
    }
    Some(
        status
            .get(STATUS_DYED_KEY)
            .map(|k| k.as_str())
            .unwrap_or(""),
    )
}

/// A dyeing log file: one line per dyed hop,
/// `unix-ms|side|key|object|function|detail` (side is `client` or `server`).
#[derive(Debug)]
pub struct DyeingLog {
    path: PathBuf,
    file: Mutex<LineWriter<File>>,
}

impl DyeingLog {
    /// Appends to `path` (created if missing).
    pub fn to_file(path: impl AsRef<Path>) -> std::io::Result<DyeingLog> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(DyeingLog {
            path,
            file: Mutex::new(LineWriter::new(file)),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line (failures are logged, not returned: logging must not fail calls).
    pub fn write(&self, side: &str, key: &str, object: &str, func: &str, detail: &str) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let clean = |s: &str| s.replace(['|', '\n', '\r'], " ");
        let line = format!(
            "{ms}|{side}|{}|{}|{}|{}\n",
            clean(key),
            clean(object),
            clean(func),
            clean(detail)
        );
        if let Err(e) = self.file.lock().write_all(line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the dyeing log");
        }
    }
}

/// Logs one dyed hop: a `tracing` event (target [`TRACING_TARGET`]) and a line in `log`.
pub fn log_hop(
    log: Option<&DyeingLog>,
    side: &str,
    key: &str,
    object: &str,
    func: &str,
    detail: &str,
) {
    tracing::info!(target: "tars::dyeing", side, key, object, func, detail, "dyed");
    if let Some(log) = log {
        log.write(side, key, object, func, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest() {
        assert_eq!(current(), None);
        {
            let _a = scope("a");
            {
                let _b = scope("b");
                assert_eq!(current().as_deref(), Some("b"));
            }
            assert_eq!(current().as_deref(), Some("a"));
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn key_needs_the_flag() {
        let mut status = std::collections::BTreeMap::new();
        status.insert(TarsString::from(STATUS_DYED_KEY), TarsString::from("u1"));
        assert_eq!(key_of(0, &status), None);
        assert_eq!(key_of(MESSAGE_TYPE_DYED, &status), Some("u1"));
        assert_eq!(key_of(MESSAGE_TYPE_DYED, &Default::default()), Some(""));
    }

    #[test]
    fn log_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DyeingLog::to_file(dir.path().join("dye.log")).expect("log");
        log.write("server", "k|1", "A.B.C", "f", "ret=0");
        let text = std::fs::read_to_string(log.path()).expect("read");
        let fields: Vec<&str> = text.trim_end().split('|').collect();
        assert_eq!(&fields[1..], ["server", "k 1", "A.B.C", "f", "ret=0"]);
    }
}
