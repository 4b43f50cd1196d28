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
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: std::thread::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        let until = Instant::now() + spin;
        let mut spins = 0u32;
        while !signal.woken.swap(false, Ordering::Acquire) {
            spins = spins.wrapping_add(1);
            if spins % 64 == 0 && Instant::now() >= until {
                // Parked until woken (`unpark` before `park` makes `park` return at once).
                while !signal.woken.swap(false, Ordering::Acquire) {
                    std::thread::park();
                }
                break;
            }
            std::hint::spin_loop();
        }
    }
}

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
}
