//! Auto-grow: when a fragment stays overloaded, the scheduler creates a new fragment. Pure, no
//! I/O: the scheduler feeds in the leaders' load samples and asks which fragments are
//! overloaded.
//!
//! TaaS's rule: a fragment is overloaded when more than `threshold` transactions were active
//! in more than 10% of its samples over the last `window_ms`, and there are at least
//! `min_samples` samples in the window (a fragment that just got a leader, or a scheduler that
//! was just elected, has not seen enough to judge).
//!
//! Samples are kept by when the scheduler received them (its own clock, so the nodes' clocks
//! do not matter) and deduplicated by the time the leader took them (the scheduler reads the
//! load key more often than the leader writes it).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::keys::LoadSample;

/// The default threshold: active transactions per fragment.
pub const DEFAULT_THRESHOLD: u64 = 1000;
/// The default window, in milliseconds.
pub const DEFAULT_WINDOW_MS: u64 = 60_000;
/// The default minimum number of samples in the window before judging.
pub const DEFAULT_MIN_SAMPLES: usize = 10;

/// The rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutogrowConfig {
    /// More than this many active transactions makes a sample an overloaded one.
    pub threshold: u64,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// Fewer samples than this in the window: not overloaded (not enough evidence).
    pub min_samples: usize,
}

impl Default for AutogrowConfig {
    fn default() -> Self {
        AutogrowConfig {
            threshold: DEFAULT_THRESHOLD,
            window_ms: DEFAULT_WINDOW_MS,
            min_samples: DEFAULT_MIN_SAMPLES,
        }
    }
}

/// One fragment's samples in the window.
#[derive(Debug, Clone, Default)]
pub struct LoadSampler {
    /// (received at, sample), oldest first.
    samples: VecDeque<(i64, LoadSample)>,
}

impl LoadSampler {
    /// An empty sampler.
    pub fn new() -> LoadSampler {
        LoadSampler::default()
    }

    /// Records `sample`, received at `now_ms`, unless it was already recorded (same or older
    /// `at_ms` than the last one), and forgets samples older than `window_ms`. Returns whether
    /// it was recorded.
    pub fn record(&mut self, sample: &LoadSample, now_ms: i64, window_ms: u64) -> bool {
        let fresh = self
            .samples
            .back()
            .is_none_or(|(_, last)| sample.at_ms > last.at_ms);
        if fresh {
            self.samples.push_back((now_ms, sample.clone()));
        }
        self.prune(now_ms, window_ms);
        fresh
    }

    /// Forgets samples received more than `window_ms` before `now_ms`.
    pub fn prune(&mut self, now_ms: i64, window_ms: u64) {
        let window = i64::try_from(window_ms).unwrap_or(i64::MAX);
        let oldest = now_ms.saturating_sub(window);
        while self.samples.front().is_some_and(|(at, _)| *at < oldest) {
            self.samples.pop_front();
        }
    }

    /// Samples in the window.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Samples in the window above `threshold`.
    pub fn over(&self, threshold: u64) -> usize {
        self.samples
            .iter()
            .filter(|(_, s)| s.active > threshold)
            .count()
    }

    /// The rule (see the module docs), on the samples in the window.
    pub fn overloaded(&self, config: &AutogrowConfig) -> bool {
        let total = self.samples.len();
        total >= config.min_samples.max(1) && self.over(config.threshold) * 10 > total
    }

    /// Forgets every sample (after growing: the next decision needs a new window of evidence).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

/// The samplers of every fragment.
#[derive(Debug, Clone, Default)]
pub struct Autogrow {
    config: AutogrowConfig,
    fragments: BTreeMap<u32, LoadSampler>,
}

impl Autogrow {
    /// No samples yet.
    pub fn new(config: AutogrowConfig) -> Autogrow {
        Autogrow {
            config,
            fragments: BTreeMap::new(),
        }
    }

    /// The rule's parameters.
    pub fn config(&self) -> &AutogrowConfig {
        &self.config
    }

    /// Records a sample of fragment `f` received at `now_ms` (see [`LoadSampler::record`]).
    pub fn record(&mut self, f: u32, sample: &LoadSample, now_ms: i64) -> bool {
        self.fragments
            .entry(f)
            .or_default()
            .record(sample, now_ms, self.config.window_ms)
    }

    /// The overloaded fragments at `now_ms`, in id order (old samples are forgotten first).
    pub fn overloaded(&mut self, now_ms: i64) -> Vec<u32> {
        let config = self.config;
        self.fragments
            .iter_mut()
            .filter_map(|(&f, s)| {
                s.prune(now_ms, config.window_ms);
                s.overloaded(&config).then_some(f)
            })
            .collect()
    }

    /// Fragment `f`'s sampler, if it has had samples.
    pub fn sampler(&self, f: u32) -> Option<&LoadSampler> {
        self.fragments.get(&f)
    }

    /// Forgets fragment `f`'s samples (after a new fragment was grown for it).
    pub fn reset(&mut self, f: u32) {
        if let Some(s) = self.fragments.get_mut(&f) {
            s.clear();
        }
    }

    /// Forgets every fragment not in `live` (fragments that no longer exist).
    pub fn retain(&mut self, live: impl Fn(u32) -> bool) {
        self.fragments.retain(|&f, _| live(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(active: u64, at_ms: i64) -> LoadSample {
        LoadSample { active, at_ms }
    }

    fn config() -> AutogrowConfig {
        AutogrowConfig {
            threshold: 100,
            window_ms: 10_000,
            min_samples: 5,
        }
    }

    /// Feeds one sample a second: `loads[i]` at `t0 + i s`.
    fn feed(a: &mut Autogrow, f: u32, t0: i64, loads: &[u64]) -> i64 {
        let mut now = t0;
        for (i, &l) in loads.iter().enumerate() {
            now = t0 + i as i64 * 1000;
            a.record(f, &sample(l, now), now);
        }
        now
    }

    #[test]
    fn more_than_ten_percent_over_the_threshold_is_overloaded() {
        let mut a = Autogrow::new(config());
        // 10 samples, 2 above: 20% > 10%.
        let now = feed(&mut a, 1, 0, &[0, 500, 0, 0, 0, 0, 500, 0, 0, 0]);
        assert_eq!(a.overloaded(now), vec![1]);
    }

    #[test]
    fn exactly_ten_percent_is_not() {
        let mut a = Autogrow::new(config());
        let now = feed(&mut a, 1, 0, &[0, 500, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(a.overloaded(now).is_empty());
    }

    #[test]
    fn at_the_threshold_is_not_over_it() {
        let mut a = Autogrow::new(config());
        let now = feed(&mut a, 1, 0, &[100; 10]);
        assert!(a.overloaded(now).is_empty());
        // 2 of 12 above it.
        let now = feed(&mut a, 1, now + 1000, &[101, 101]);
        assert_eq!(a.overloaded(now), vec![1]);
    }

    #[test]
    fn too_few_samples_is_not_enough_evidence() {
        let mut a = Autogrow::new(config());
        let now = feed(&mut a, 1, 0, &[5000; 4]);
        assert!(a.overloaded(now).is_empty());
        let now = feed(&mut a, 1, now + 1000, &[5000]);
        assert_eq!(a.overloaded(now), vec![1]);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut a = Autogrow::new(config());
        let now = feed(&mut a, 1, 0, &[5000; 6]);
        assert_eq!(a.overloaded(now), vec![1]);
        // 20 quiet seconds later the burst is out of the 10 s window.
        let now = feed(&mut a, 1, now + 1000, &[0; 20]);
        assert!(a.overloaded(now).is_empty());
        assert_eq!(a.sampler(1).map(|s| s.over(100)), Some(0));
        assert!(a.sampler(1).is_some_and(|s| s.len() <= 11));
    }

    #[test]
    fn a_sample_read_twice_counts_once() {
        let mut s = LoadSampler::new();
        assert!(s.record(&sample(500, 1000), 1000, 10_000));
        assert!(!s.record(&sample(500, 1000), 1500, 10_000));
        assert!(!s.record(&sample(500, 900), 1600, 10_000));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn reset_needs_a_new_window_of_evidence() {
        let mut a = Autogrow::new(config());
        let now = feed(&mut a, 1, 0, &[5000; 6]);
        feed(&mut a, 2, 0, &[5000; 6]);
        assert_eq!(a.overloaded(now), vec![1, 2]);
        a.reset(1);
        assert_eq!(a.overloaded(now), vec![2]);
        a.retain(|f| f != 2);
        assert!(a.overloaded(now).is_empty());
    }

    #[test]
    fn config_defaults_and_rejects_unknown_fields() {
        let c: AutogrowConfig = serde_json::from_str(r#"{"threshold": 7}"#).unwrap();
        assert_eq!(c.threshold, 7);
        assert_eq!(c.window_ms, DEFAULT_WINDOW_MS);
        assert!(serde_json::from_str::<AutogrowConfig>(r#"{"treshold": 7}"#).is_err());
    }
}
