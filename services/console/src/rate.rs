//! Calls per second: the node server's request counter, sampled once a second.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// How often the counter is sampled.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);
/// Samples kept (a minute of history).
const KEPT: usize = 61;

/// The samples of the request counter.
#[derive(Clone)]
pub(crate) struct Rate {
    source: Option<tars::server::IoStatsSource>,
    samples: Arc<Mutex<VecDeque<(Instant, u64)>>>,
}

/// Calls per second as the overview shows them.
#[derive(Debug, Clone, Serialize)]
pub struct CallRate {
    /// Requests the node's server received since it started.
    pub requests_total: u64,
    /// Requests per second over the last sampling period.
    pub per_second: f64,
    /// Requests per second over the kept history (up to a minute).
    pub per_second_avg: f64,
    /// Requests per second in each sampling period, oldest first.
    pub history: Vec<f64>,
    /// The sampling period in milliseconds.
    pub period_ms: u64,
}

impl Rate {
    pub fn new(source: Option<tars::server::IoStatsSource>) -> Rate {
        Rate {
            source,
            samples: Arc::new(Mutex::new(VecDeque::with_capacity(KEPT))),
        }
    }

    fn sample(&self) {
        let Some(source) = &self.source else { return };
        let requests = source.snapshot().requests;
        let mut samples = self.samples.lock();
        if samples.len() == KEPT {
            samples.pop_front();
        }
        samples.push_back((Instant::now(), requests));
    }

    /// Samples every `period` until the runtime stops.
    pub async fn sample_every(self, period: Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.sample();
        }
    }

    /// The rates now (`None` without a counter to sample).
    pub fn now(&self) -> Option<CallRate> {
        let source = self.source.as_ref()?;
        let requests_total = source.snapshot().requests;
        let samples = self.samples.lock();
        let rate = |a: &(Instant, u64), b: &(Instant, u64)| {
            let secs = b.0.duration_since(a.0).as_secs_f64();
            if secs <= 0.0 {
                0.0
            } else {
                b.1.saturating_sub(a.1) as f64 / secs
            }
        };
        let history: Vec<f64> = samples
            .iter()
            .zip(samples.iter().skip(1))
            .map(|(a, b)| rate(a, b))
            .collect();
        let per_second_avg = match (samples.front(), samples.back()) {
            (Some(a), Some(b)) => rate(a, b),
            _ => 0.0,
        };
        Some(CallRate {
            requests_total,
            per_second: history.last().copied().unwrap_or(0.0),
            per_second_avg,
            history,
            period_ms: PERIOD.as_millis() as u64,
        })
    }
}
