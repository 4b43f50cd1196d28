//! Bounded waits: poll a condition until it holds, and fail the test with what was awaited
//! when it does not within the limit.

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
