//! Built-in selectors. Those that rotate or keep state key it by [`Candidate::id`], so it
//! survives endpoint-list refreshes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{CallInfo, Candidate, Selector};
use crate::client::balance::stable_hash;

/// Each call to the next candidate.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// Starts at the first candidate.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }

    fn pick(&self, n: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % n
    }
}

impl Selector for RoundRobin {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        Some(self.pick(candidates.len()))
    }
}

/// A uniformly random candidate.
#[derive(Debug)]
pub struct Random {
    rng: Mutex<fastrand::Rng>,
}

impl Default for Random {
    fn default() -> Self {
        Random::new()
    }
}

impl Random {
    /// Randomly seeded.
    pub fn new() -> Random {
        Random {
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// With a fixed seed (reproducible choices, for tests).
    pub fn seeded(seed: u64) -> Random {
        Random {
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    fn pick(&self, n: usize) -> usize {
        self.rng.lock().usize(..n)
    }
}

impl Selector for Random {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        Some(self.pick(candidates.len()))
    }
}

/// `hash % candidates`; calls without a hash go round-robin.
#[derive(Debug, Default)]
pub struct ModHash {
    fallback: RoundRobin,
}

impl ModHash {
    /// Mod-hash selection.
    pub fn new() -> ModHash {
        ModHash::default()
    }
}

impl Selector for ModHash {
    fn select(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Option<usize> {
        let n = candidates.len();
        Some(match call.hash {
            Some(h) => (h % n as u64) as usize,
            None => self.fallback.pick(n),
        })
    }
}

/// Virtual nodes per endpoint on a hash ring.
const VNODES: usize = 160;

/// A ring of [`VNODES`] points per endpoint (`host:port`), rebuilt when the set changes.
#[derive(Debug, Default)]
struct Ring {
    members: Vec<u64>,
    points: Vec<(u64, u64)>,
}

impl Ring {
    /// The candidate index owning `key`.
    fn lookup(&mut self, candidates: &[Candidate<'_>], key: u64) -> usize {
        let ids: Vec<u64> = candidates.iter().map(|c| c.id).collect();
        if ids != self.members {
            self.points = candidates
                .iter()
                .flat_map(|c| {
                    let ep = &c.instance.endpoint;
                    (0..VNODES).map(move |v| {
                        (
                            stable_hash(format!("{}:{}#{v}", ep.host, ep.port).as_bytes()),
                            c.id,
                        )
                    })
                })
                .collect();
            self.points.sort_unstable();
            self.members = ids;
        }
        let at = self.points.partition_point(|(p, _)| *p < key);
        let owner = self
            .points
            .get(at)
            .or_else(|| self.points.first())
            .map(|(_, id)| *id);
        owner
            .and_then(|id| candidates.iter().position(|c| c.id == id))
            .unwrap_or(0)
    }
}

/// Consistent hashing on the call's hash: adding or removing an endpoint moves few keys.
/// Calls without a hash go round-robin.
#[derive(Debug, Default)]
pub struct ConsistentHash {
    ring: Mutex<Ring>,
    fallback: RoundRobin,
}

impl ConsistentHash {
    /// Consistent-hash selection.
    pub fn new() -> ConsistentHash {
        ConsistentHash::default()
    }
}

impl Selector for ConsistentHash {
    fn select(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Option<usize> {
        Some(match call.hash {
            Some(h) => self
                .ring
                .lock()
                .lookup(candidates, stable_hash(&h.to_be_bytes())),
            None => self.fallback.pick(candidates.len()),
        })
    }
}

/// Selections between sweeps of [`SmoothWeighted`]'s state for endpoints no longer seen.
const SWEEP_EVERY: u64 = 4096;

/// Smooth weighted round-robin (nginx) on the instances' `weight`: weights 5, 1, 1 give
/// a a b a c a a. Weight 0 is never chosen unless all are 0 (then round-robin). State is kept
/// per endpoint id, so proxies sharing the policy do not disturb each other; state of
/// endpoints that were not among the candidates for 4096 selections is dropped.
#[derive(Debug, Default)]
pub struct SmoothWeighted {
    state: Mutex<WeightState>,
    fallback: RoundRobin,
}

#[derive(Debug, Default)]
struct WeightState {
    /// Endpoint id → (current weight, selection number when last a candidate).
    current: HashMap<u64, (i64, u64)>,
    selections: u64,
}

impl SmoothWeighted {
    /// Smooth weighted round-robin.
    pub fn new() -> SmoothWeighted {
        SmoothWeighted::default()
    }
}

impl Selector for SmoothWeighted {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        let mut state = self.state.lock();
        state.selections += 1;
        let now = state.selections;
        if now % SWEEP_EVERY == 0 {
            state
                .current
                .retain(|_, (_, seen)| now - *seen < SWEEP_EVERY);
        }
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let w = i64::from(c.instance.meta.weight.max(0));
            if w == 0 {
                continue;
            }
            let entry = state.current.entry(c.id).or_insert((0, now));
            entry.0 += w;
            entry.1 = now;
            total += w;
            if best.is_none_or(|(_, b)| entry.0 > b) {
                best = Some((i, entry.0));
            }
        }
        match best {
            Some((i, _)) => {
                if let Some(entry) = state.current.get_mut(&candidates[i].id) {
                    entry.0 -= total;
                }
                Some(i)
            }
            None => Some(self.fallback.pick(candidates.len())),
        }
    }
}

/// Among the candidates minimising `key`, the next one in rotation.
fn rotate_among_best<K: PartialOrd + Copy>(
    candidates: &[Candidate<'_>],
    rotation: &RoundRobin,
    key: impl Fn(&Candidate<'_>) -> K,
) -> Option<usize> {
    rotate_among_best_index(candidates.len(), rotation, |i| key(&candidates[i]))
}

/// Among the indices `0..n` minimising `key`, the next one in rotation.
fn rotate_among_best_index<K: PartialOrd + Copy>(
    n: usize,
    rotation: &RoundRobin,
    key: impl Fn(usize) -> K,
) -> Option<usize> {
    let best = (0..n).map(&key).fold(None, |acc: Option<K>, k| match acc {
        Some(a) if a <= k => Some(a),
        _ => Some(k),
    })?;
    let tied: Vec<usize> = (0..n).filter(|&i| key(i) == best).collect();
    Some(tied[rotation.pick(tied.len())])
}

/// The candidate with the fewest calls in flight from this client; ties rotate.
///
/// The counts are [`EndpointStats::in_flight`](super::EndpointStats::in_flight): the
/// transport counts a call from when it is sent until it ends (answered, failed, timed out
/// or abandoned). Under a steady load this sends more calls to faster endpoints, since their
/// calls end sooner.
#[derive(Debug, Default)]
pub struct LeastActive {
    rotation: RoundRobin,
}

impl LeastActive {
    /// Least-active selection.
    pub fn new() -> LeastActive {
        LeastActive::default()
    }
}

impl Selector for LeastActive {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        rotate_among_best(candidates, &self.rotation, |c| c.stats.in_flight())
    }
}

/// Spreads calls at random in proportion to each instance's free slots,
/// `capacity - activeTransactions` from its registry metadata: an instance with 40 free slots
/// gets twice the calls of one with 20, a full one none.
///
/// Why random and why slots: the metadata is only as fresh as the last refresh, and every
/// client sees the same. Choosing the best instance each time (as this selector did before)
/// sends every call of every client to one instance until the next refresh. Choosing in
/// proportion to free slots means that when the clients together place as many calls as
/// there are free slots, each instance receives about its own free slots (its expected share
/// is exactly that), and independent random choices do not move in step. Weighting by the
/// free *share* instead would send as much to a small instance as to a large one.
///
/// When no instance has a free slot, the full instances with a known capacity are used in
/// rotation; instances without a capacity (0) are used only when no candidate declares one.
#[derive(Debug)]
pub struct CapacityRelative {
    rng: Mutex<fastrand::Rng>,
    rotation: RoundRobin,
}

impl Default for CapacityRelative {
    fn default() -> Self {
        CapacityRelative::new()
    }
}

impl CapacityRelative {
    /// Randomly seeded (each client its own seed, so clients do not choose in step).
    pub fn new() -> CapacityRelative {
        CapacityRelative::seeded(fastrand::u64(..))
    }

    /// With a fixed seed (reproducible choices, for tests).
    pub fn seeded(seed: u64) -> CapacityRelative {
        CapacityRelative {
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            rotation: RoundRobin::new(),
        }
    }

    /// The free share of `c`'s capacity, `(capacity - activeTransactions) / capacity` in
    /// `0.0..=1.0`; `None` when its capacity is unknown.
    pub fn free_share(c: &Candidate<'_>) -> Option<f64> {
        let capacity = c.instance.meta.capacity;
        Self::free_slots(c).map(|free| f64::from(free) / f64::from(capacity))
    }

    /// The free slots of `c`, `capacity - activeTransactions` (0 when it is full or over);
    /// `None` when its capacity is unknown (0 or less).
    pub fn free_slots(c: &Candidate<'_>) -> Option<u32> {
        let capacity = c.instance.meta.capacity;
        (capacity > 0).then(|| {
            let used = c.instance.load.active_transactions.clamp(0, capacity);
            u32::try_from(capacity - used).unwrap_or(0)
        })
    }
}

impl Selector for CapacityRelative {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        let free: Vec<u64> = candidates
            .iter()
            .map(|c| Self::free_slots(c).map_or(0, u64::from))
            .collect();
        let total: u64 = free.iter().sum();
        if total > 0 {
            let mut ticket = self.rng.lock().u64(..total);
            for (i, f) in free.iter().enumerate() {
                if ticket < *f {
                    return Some(i);
                }
                ticket -= f;
            }
        }
        // Nothing free: known capacities (all full) in rotation, unknown ones last.
        rotate_among_best(candidates, &self.rotation, |c| {
            u8::from(Self::free_slots(c).is_none())
        })
    }
}

/// One selection in this many of [`LowestLatency`] explores: it goes to the candidate
/// measured least recently (about 6% of the calls).
pub const EXPLORE_EVERY: u32 = 16;

/// The candidate with the lowest measured latency
/// ([`EndpointStats::latency`](super::EndpointStats::latency), the mean of the last few
/// successful calls), with exploration, so that an endpoint avoided because it was slow is
/// measured again:
///
/// - endpoints not measured yet, or whose last sample is older than `stale_after`
///   ([`LATENCY_TTL`](super::LATENCY_TTL) by default), are tried first, in rotation, one
///   probe at a time: while such an endpoint has a call in flight it ranks by its old
///   latency (or, never measured, after the measured ones). The sample of the probe replaces
///   its old ones;
/// - every `explore_every`-th selection ([`EXPLORE_EVERY`] by default, counted over every
///   proxy sharing the policy) goes to the measured endpoint whose last sample is the oldest
///   and that has no call in flight (a call in flight will bring a sample anyway), instead
///   of the fastest.
///
/// So an endpoint that was slow and has become fast gets a new sample every `explore_every`
/// selections with two endpoints (with `n`, the others take turns: every
/// `explore_every × (n - 1)`), and once its last [`LATENCY_WINDOW`](super::LATENCY_WINDOW)
/// samples are fast its estimate is its new latency alone, whatever its old one was. With the
/// defaults and two endpoints it is chosen again as the fastest within 64 selections
/// (sequential calls; calls in flight delay their samples). Exploration costs one call in
/// `explore_every` to an endpoint that is not the fastest.
#[derive(Debug)]
pub struct LowestLatency {
    rotation: RoundRobin,
    selections: AtomicU64,
    explore_every: u32,
    stale_after: Duration,
}

impl Default for LowestLatency {
    fn default() -> Self {
        LowestLatency::new()
    }
}

impl LowestLatency {
    /// Lowest-latency selection exploring one call in [`EXPLORE_EVERY`], measurements
    /// stale after [`LATENCY_TTL`](super::LATENCY_TTL).
    pub fn new() -> LowestLatency {
        LowestLatency::with_exploration(EXPLORE_EVERY, super::LATENCY_TTL)
    }

    /// Exploring one selection in `explore_every` (0: never), measurements stale after
    /// `stale_after` (`Duration::MAX`: never).
    pub fn with_exploration(explore_every: u32, stale_after: Duration) -> LowestLatency {
        LowestLatency {
            rotation: RoundRobin::new(),
            selections: AtomicU64::new(0),
            explore_every,
            stale_after,
        }
    }
}

impl Selector for LowestLatency {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        let now = Instant::now();
        let samples: Vec<Option<(Duration, Instant)>> = candidates
            .iter()
            .map(|c| c.stats.latency_sample())
            .collect();
        let fresh = |i: usize| {
            samples[i].filter(|(_, at)| now.saturating_duration_since(*at) <= self.stale_after)
        };
        let idle = |i: usize| candidates[i].stats.in_flight() == 0;
        // Rank: a probe of an endpoint without a current measurement and without a call in
        // flight; then the current (or, while a probe is out, the stale) mean latency; then
        // endpoints never measured whose probe is still out.
        let best = rotate_among_best_index(candidates.len(), &self.rotation, |i| {
            match (fresh(i), samples[i]) {
                (None, _) if idle(i) => (0u8, 0u128),
                (Some((latency, _)), _) | (None, Some((latency, _))) => (1, latency.as_micros()),
                (None, None) => (2, 0),
            }
        })?;
        let n = self.selections.fetch_add(1, Ordering::Relaxed);
        let explore = self.explore_every > 0
            && n % u64::from(self.explore_every) == u64::from(self.explore_every) - 1;
        if !explore || fresh(best).is_none() {
            return Some(best);
        }
        let oldest = (0..candidates.len())
            .filter(|&i| i != best && idle(i))
            .filter_map(|i| samples[i].map(|(_, at)| (at, i)))
            .min()
            .map(|(_, i)| i);
        Some(oldest.unwrap_or(best))
    }
}

/// The candidate with the lowest average transaction time reported in its heartbeats; while
/// any candidate has no measurement yet (0), a random one, so all get measured.
#[derive(Debug, Default)]
pub struct LowestAvgTransactionTime {
    random: Random,
    rotation: RoundRobin,
}

impl LowestAvgTransactionTime {
    /// Randomly seeded.
    pub fn new() -> LowestAvgTransactionTime {
        LowestAvgTransactionTime::default()
    }

    /// With a fixed seed for the random phase (for tests).
    pub fn seeded(seed: u64) -> LowestAvgTransactionTime {
        LowestAvgTransactionTime {
            random: Random::seeded(seed),
            rotation: RoundRobin::new(),
        }
    }
}

impl Selector for LowestAvgTransactionTime {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        let avg = |c: &Candidate<'_>| c.instance.load.avg_transaction_ms;
        if candidates.iter().any(|c| avg(c) <= 0.0) {
            return Some(self.random.pick(candidates.len()));
        }
        rotate_among_best(candidates, &self.rotation, avg)
    }
}

/// Calls of one global transaction (same XID in the context) go to the same endpoint, chosen
/// by consistent hashing on the XID; calls outside a transaction use `inner`.
pub struct XidAffinity {
    ring: Mutex<Ring>,
    inner: Box<dyn Selector>,
}

impl std::fmt::Debug for XidAffinity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XidAffinity").finish_non_exhaustive()
    }
}

impl XidAffinity {
    /// XID affinity, with `inner` for calls without an XID.
    pub fn new(inner: impl Selector) -> XidAffinity {
        XidAffinity {
            ring: Mutex::new(Ring::default()),
            inner: Box::new(inner),
        }
    }
}

impl Selector for XidAffinity {
    fn select(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Option<usize> {
        match call.xid() {
            Some(xid) => Some(
                self.ring
                    .lock()
                    .lookup(candidates, stable_hash(xid.as_bytes())),
            ),
            None => self.inner.select(candidates, call),
        }
    }
}
