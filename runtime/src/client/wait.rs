//! Waiting for a synchronous call's reply on the calling thread.
//!
//! A reply on a fast network arrives within tens of microseconds. Parking the thread at once
//! would make the net thread pay a futex wake-up (and, on a virtual machine, an inter-processor
//! interrupt) for every call, and the caller the time to be scheduled again. So the caller
//! first waits actively for a short, bounded time ([`SPIN`]) — re-polling only when the reply
//! has been signalled — and parks only when the reply takes longer.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a synchronous caller waits actively before parking.
pub const SPIN: Duration = Duration::from_micros(50);

struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // Cheap when the thread is not parked (an atomic swap, no system call).
        self.thread.unpark();
    }
}

/// Runs `future` to completion on this thread: spins up to `spin` for each wake-up, then parks.
pub fn block_on_spinning<F: Future>(future: F, spin: Duration) -> F::Output {
    block_on_with_deadline(future, spin, None, || {})
}

/// Runs `future` to completion like [`block_on_spinning`]; once `deadline` has passed, calls
/// `nudge` (every [`NUDGE_EVERY`] while still waiting) — for futures completed by a thread
/// that must be woken to notice the deadline.
pub fn block_on_with_deadline<F: Future>(
    future: F,
    spin: Duration,
    deadline: Option<Instant>,
    nudge: impl Fn(),
) -> F::Output {
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: std::thread::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut next_nudge = deadline;
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        let until = Instant::now() + spin;
        let mut spins = 0u32;
        while !signal.woken.swap(false, Ordering::Acquire) {
            spins = spins.wrapping_add(1);
            if spins % 64 != 0 {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            if let Some(at) = next_nudge.filter(|at| now >= *at) {
                nudge();
                next_nudge = Some(at.max(now) + NUDGE_EVERY);
            }
            if now < until {
                std::hint::spin_loop();
                continue;
            }
            match next_nudge {
                Some(at) => std::thread::park_timeout(at.saturating_duration_since(now)),
                None => std::thread::park(),
            }
        }
    }
}

/// How often a caller still waiting past its deadline wakes the thread that should fail it.
pub const NUDGE_EVERY: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;

    #[test]
    fn completes_a_ready_future_and_one_answered_later_from_another_thread() {
        assert_eq!(block_on_spinning(async { 7 }, SPIN), 7);
        for delay in [
            Duration::ZERO,
            Duration::from_micros(10),
            Duration::from_millis(20),
        ] {
            let (tx, rx) = oneshot::channel();
            let t = std::thread::spawn(move || {
                std::thread::sleep(delay);
                tx.send(42).unwrap();
            });
            assert_eq!(block_on_spinning(rx, SPIN), Ok(42));
            t.join().unwrap();
        }
    }

    #[test]
    fn a_waiter_past_its_deadline_nudges_until_answered() {
        let (tx, rx) = oneshot::channel::<u8>();
        let tx = std::sync::Mutex::new(Some(tx));
        let nudges = std::sync::atomic::AtomicUsize::new(0);
        let deadline = Instant::now() + Duration::from_millis(30);
        // The "net thread" answers only when nudged (the second time).
        let out = block_on_with_deadline(rx, SPIN, Some(deadline), || {
            if nudges.fetch_add(1, Ordering::Relaxed) == 1 {
                if let Some(tx) = tx.lock().unwrap().take() {
                    tx.send(9).unwrap();
                }
            }
        });
        assert_eq!(out, Ok(9));
        assert!(Instant::now() >= deadline + NUDGE_EVERY);
        assert_eq!(nudges.load(Ordering::Relaxed), 2);
    }
}
