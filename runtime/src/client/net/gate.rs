//! [`WriteGate`]: who may write to an adapter's TCP socket right now — its net thread, or one
//! synchronous caller writing its request directly.
//!
//! A synchronous caller that finds the connection idle (nothing queued on the net thread,
//! nobody writing) claims the gate, registers its call with the net thread without waking it,
//! and writes its frame itself: one non-blocking `write`, no thread hop before the request
//! leaves. The net thread still reads the response. Frames never interleave:
//!
//! - the net thread writes only while it holds the gate, and releases it only once its queue is
//!   empty, so a caller never claims a socket with bytes pending;
//! - a frame queued on the net thread while a caller holds the gate waits: the net thread marks
//!   the gate *deferred*, and the caller wakes it when it releases;
//! - a caller whose write was partial (the socket buffer is full) does not release: it hands
//!   the rest of its frame to the net thread, which puts it in front of its queue and takes
//!   the gate over.
//!
//! No lock is held across the write: the gate is an atomic state, and the socket is shared by
//! reference count.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use mio::net::TcpStream;
use parking_lot::Mutex;

const IDLE: u8 = 0;
const CALLER: u8 = 1;
const NET: u8 = 2;
/// With `CALLER`: the net thread has bytes to write once the caller is done.
const DEFERRED: u8 = 4;

/// The write ownership of one adapter's socket, and the socket callers may write to.
#[derive(Default)]
pub(crate) struct WriteGate {
    state: AtomicU8,
    stream: Mutex<Option<(Arc<TcpStream>, u32)>>,
}

impl WriteGate {
    /// The net thread connected `stream` (socket generation `generation`): callers may now
    /// write to it directly.
    pub fn publish(&self, stream: Arc<TcpStream>, generation: u32) {
        *self.stream.lock() = Some((stream, generation));
    }

    /// The socket is closing: no more direct writes. A gate the net thread held is released (a
    /// caller still writing to the old socket releases it itself).
    pub fn withdraw(&self) {
        *self.stream.lock() = None;
        let _ = self
            .state
            .compare_exchange(NET, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A caller claims the idle socket for one direct write: the stream and its socket
    /// generation, or `None` when the socket is busy or not connected.
    ///
    /// A socket withdrawn between the two steps is still written to; the call then fails when
    /// the net thread sees that its socket is gone.
    pub fn claim(&self) -> Option<(Arc<TcpStream>, u32)> {
        let stream = self.stream.lock().clone()?;
        self.state
            .compare_exchange(IDLE, CALLER, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(stream)
    }

    /// The caller wrote its whole frame. Returns whether the net thread must be woken (it has
    /// bytes waiting for the gate).
    #[must_use]
    pub fn release(&self) -> bool {
        self.state.swap(IDLE, Ordering::AcqRel) & DEFERRED != 0
    }

    /// The net thread takes the gate to write its queue. `false`: a caller is writing; the gate
    /// is marked deferred and the caller will wake the thread when it is done.
    pub fn acquire_for_net(&self) -> bool {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match current {
                IDLE => NET,
                NET => return true,
                // CALLER, with or without DEFERRED.
                _ => current | DEFERRED,
            };
            match self
                .state
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next == NET,
                Err(seen) => current = seen,
            }
        }
    }

    /// The net thread's queue is empty: callers may write directly again.
    pub fn release_from_net(&self) {
        let _ = self
            .state
            .compare_exchange(NET, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A caller's partial write: the net thread takes the gate over with the rest of the frame.
    pub fn take_over(&self) {
        self.state.store(NET, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_and_the_net_thread_never_hold_the_gate_together() {
        let gate = WriteGate::default();
        // Not connected: a claim gets nothing and leaves the gate idle.
        assert!(gate.claim().is_none());
        assert_eq!(gate.state.load(Ordering::Acquire), IDLE);
        assert!(gate.acquire_for_net());
        // Held by the net thread: callers go through the queue.
        assert!(gate.claim().is_none());
        gate.release_from_net();
        // Held by a (pretend) caller: the net thread defers, and is woken on release.
        gate.state.store(CALLER, Ordering::Release);
        assert!(!gate.acquire_for_net());
        assert!(!gate.acquire_for_net());
        assert!(gate.release(), "a deferred net thread must be woken");
        assert!(gate.acquire_for_net());
        gate.release_from_net();
        // A caller that released with nobody waiting does not wake anyone.
        gate.state.store(CALLER, Ordering::Release);
        assert!(!gate.release());
        // A partial write hands the gate to the net thread.
        gate.state.store(CALLER | DEFERRED, Ordering::Release);
        gate.take_over();
        assert!(gate.acquire_for_net());
        gate.withdraw();
        assert_eq!(gate.state.load(Ordering::Acquire), IDLE);
    }
}
