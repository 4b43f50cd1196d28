//! What a client measures per endpoint: calls in flight and latency.
//!
//! The latency estimate is the mean of the last [`LATENCY_WINDOW`] successful calls. The
//! memory is short on purpose: an endpoint that was slow and recovers is recognised after
//! [`LATENCY_WINDOW`] fast samples, however slow it was before (an exponential average with
//! weight 1/8 needs about 24 samples to forget a 10x slowdown). Samples also age: a sample
//! taken [`LATENCY_TTL`] or more after the previous one starts the window afresh, since what
//! the endpoint did that long ago says little about it now.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Successful calls the latency estimate is the mean of.
pub const LATENCY_WINDOW: usize = 4;

/// How long a latency measurement stays current. A sample taken this long or longer after the
/// previous one replaces the whole window, and [`LowestLatency`](super::LowestLatency) treats
/// an endpoint whose last sample is this old as not measured (it is tried again).
pub const LATENCY_TTL: Duration = Duration::from_secs(10);

/// The last [`LATENCY_WINDOW`] latency samples of an endpoint, in microseconds.
#[derive(Debug, Default)]
struct Window {
    samples: [u64; LATENCY_WINDOW],
    /// Where the next sample goes.
    next: usize,
    /// Samples held (at most [`LATENCY_WINDOW`]).
    len: usize,
    /// When the newest sample was taken.
    last: Option<Instant>,
}

impl Window {
    fn record(&mut self, sample_us: u64, at: Instant) {
        if self
            .last
            .is_some_and(|last| at.saturating_duration_since(last) >= LATENCY_TTL)
        {
            self.len = 0;
        }
        self.samples[self.next] = sample_us;
        self.next = (self.next + 1) % LATENCY_WINDOW;
        self.len = (self.len + 1).min(LATENCY_WINDOW);
        if self.last.is_none_or(|last| at > last) {
            self.last = Some(at);
        }
    }

    fn mean(&self) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        // The `len` newest samples end just before `next`.
        let sum: u128 = (1..=self.len)
            .map(|back| {
                u128::from(self.samples[(self.next + LATENCY_WINDOW - back) % LATENCY_WINDOW])
            })
            .sum();
        let mean = sum / self.len as u128;
        Some(Duration::from_micros(
            u64::try_from(mean).unwrap_or(u64::MAX),
        ))
    }
}

/// Calls in flight, completed calls, and the latency of the last successful calls.
#[derive(Debug, Default)]
pub struct EndpointStats {
    in_flight: AtomicU32,
    completed: AtomicU64,
    latency: Mutex<Window>,
}

impl EndpointStats {
    /// Fresh statistics (nothing in flight, nothing measured).
    pub fn new() -> EndpointStats {
        EndpointStats::default()
    }

    /// Calls sent and not ended yet.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Calls ended (answered, failed or abandoned) so far.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// The mean latency of the last [`LATENCY_WINDOW`] successful calls (fewer after a restart
    /// of the window), `None` before the first. At least 1 µs once measured.
    pub fn latency(&self) -> Option<Duration> {
        self.latency.lock().mean()
    }

    /// When the newest latency sample was taken, `None` before the first.
    pub fn last_measured(&self) -> Option<Instant> {
        self.latency.lock().last
    }

    /// [`latency`](Self::latency) and [`last_measured`](Self::last_measured) together (one
    /// lock), `None` before the first sample.
    pub fn latency_sample(&self) -> Option<(Duration, Instant)> {
        let window = self.latency.lock();
        window.mean().zip(window.last)
    }

    /// A call was sent.
    pub fn start_call(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended (answered, failed or abandoned). Never takes the count below zero.
    pub fn end_call(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a latency sample of a successful call that ended now.
    pub fn record_latency(&self, latency: Duration) {
        self.record_latency_at(latency, Instant::now());
    }

    /// Adds a latency sample of a successful call that ended at `at` (for callers that
    /// measured earlier, and for tests that need old samples). A sample taken [`LATENCY_TTL`]
    /// or more after the newest one held replaces the window; a sample older than the newest
    /// one joins the window without moving [`last_measured`](Self::last_measured) back.
    pub fn record_latency_at(&self, latency: Duration, at: Instant) {
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency.lock().record(sample, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_is_the_mean_of_the_last_samples() {
        let s = EndpointStats::new();
        assert_eq!(s.latency(), None);
        assert_eq!(s.last_measured(), None);
        s.record_latency(ms(10));
        assert_eq!(s.latency(), Some(ms(10)));
        s.record_latency(ms(20));
        assert_eq!(s.latency(), Some(ms(15)));
        for _ in 0..LATENCY_WINDOW {
            s.record_latency(ms(2));
        }
        // The window holds only the last samples: the old ones are gone entirely.
        assert_eq!(s.latency(), Some(ms(2)));
        s.record_latency(ms(6));
        assert_eq!(s.latency(), Some(ms(3)));
        assert!(s.last_measured().is_some());
    }

    #[test]
    fn a_sample_after_a_long_gap_restarts_the_window() {
        let s = EndpointStats::new();
        let long_ago = Instant::now()
            .checked_sub(LATENCY_TTL * 3)
            .expect("an instant in the past");
        for _ in 0..LATENCY_WINDOW {
            s.record_latency_at(ms(500), long_ago);
        }
        assert_eq!(s.latency(), Some(ms(500)));
        s.record_latency(ms(1));
        assert_eq!(s.latency(), Some(ms(1)), "old samples forgotten");
        // A late report of an older sample joins the window but is not the newest.
        let newest = s.last_measured();
        s.record_latency_at(ms(3), long_ago);
        assert_eq!(s.latency(), Some(ms(2)));
        assert_eq!(s.last_measured(), newest);
    }

    #[test]
    fn in_flight_never_goes_below_zero() {
        let s = EndpointStats::new();
        s.start_call();
        s.end_call();
        s.end_call();
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.completed(), 2);
    }
}
