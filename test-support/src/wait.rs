//! Bounded waits: poll a condition until it holds, and fail the test with what was awaited
//! when it does not within the limit; a [`Gate`] that holds threads (for at most a bound)
//! until the test opens it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Time between two polls.
const POLL: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds; panics (naming `what`) if it does not within `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    poll_until(what, limit, || cond().then_some(()))
}

/// Polls `f` until it gives a value and returns it; panics (naming `what`) if it gives none
/// within `limit`.
pub fn poll_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Polls `f` until it gives `Ok` and returns the value; panics (naming `what` and showing the
/// last `Err`, e.g. what is still missing) if it gives none within `limit`.
pub fn poll_until_ok<T, E: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last: {last:?}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// A gate that threads wait at until the test opens it, each for at most the bound it gives:
/// a servant holds a call in flight exactly as long as the test needs, however slow the
/// machine (see [`Who::gated`](crate::Who::gated)). Starts closed.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    /// A closed gate, to share between the test and its servants.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Opens the gate: the waiting threads go on, and later ones do not wait.
    pub fn open(&self) {
        self.set(true);
    }

    /// Closes the gate: later [`Gate::wait`] calls wait again.
    pub fn close(&self) {
        self.set(false);
    }

    fn set(&self, open: bool) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = open;
        self.changed.notify_all();
    }

    /// Waits until the gate is open, for at most `bound`; returns whether it is open.
    pub fn wait(&self, bound: Duration) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (open, _) = self
            .changed
            .wait_timeout_while(open, bound, |open| !*open)
            .unwrap_or_else(|e| e.into_inner());
        *open
    }

    /// A guard that opens the gate when dropped, so a failing test does not leave its
    /// servants holding calls.
    pub fn open_on_drop(self: &Arc<Gate>) -> OpenOnDrop {
        OpenOnDrop(self.clone())
    }
}

/// Opens its [`Gate`] when dropped (from [`Gate::open_on_drop`]).
#[derive(Debug)]
#[must_use = "the gate opens when the guard is dropped"]
pub struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}
