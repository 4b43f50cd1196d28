//! What a client measures per endpoint: calls in flight and latency.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Weight of a new latency sample in the moving average (1/8, as TCP's SRTT).
const EWMA_SHIFT: u32 = 3;

/// Calls in flight, completed calls and a moving average of the latency of successful calls.
#[derive(Debug, Default)]
pub struct EndpointStats {
    in_flight: AtomicU32,
    completed: AtomicU64,
    /// Latency EWMA in microseconds; 0 = not measured yet.
    latency_us: AtomicU64,
}

impl EndpointStats {
    /// Fresh statistics (nothing in flight, nothing measured).
    pub fn new() -> EndpointStats {
        EndpointStats::default()
    }

    /// Calls sent and not answered yet.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Calls answered (or failed) so far.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// The moving average latency of successful calls, `None` before the first.
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// A call was sent.
    pub fn start_call(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended (answered, failed or abandoned).
    pub fn end_call(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a latency sample of a successful call.
    pub fn record_latency(&self, latency: Duration) {
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self
            .latency_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    // old + (sample - old) / 8, in signed arithmetic.
                    let old_i = old as i128;
                    let next = old_i + ((sample as i128 - old_i) >> EWMA_SHIFT);
                    next.max(1) as u64
                })
            });
    }
}
