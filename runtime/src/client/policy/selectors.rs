//! Built-in selectors. Those that rotate or keep state key it by [`Candidate::id`], so it
//! survives endpoint-list refreshes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let best = candidates
        .iter()
        .map(&key)
        .fold(None, |acc: Option<K>, k| match acc {
            Some(a) if a <= k => Some(a),
            _ => Some(k),
        })?;
    let tied: Vec<usize> = (0..candidates.len())
        .filter(|&i| key(&candidates[i]) == best)
        .collect();
    Some(tied[rotation.pick(tied.len())])
}

/// The candidate with the fewest calls in flight from this client; ties rotate.
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

/// The candidate with the largest free share of its capacity,
/// `(capacity - activeTransactions) / capacity`: 10 slots with 5 used (0.5) beats 5 slots with
/// 4 used (0.2). Instances without a capacity (0) rank after every known one; ties rotate.
#[derive(Debug, Default)]
pub struct CapacityRelative {
    rotation: RoundRobin,
}

impl CapacityRelative {
    /// Capacity-relative selection.
    pub fn new() -> CapacityRelative {
        CapacityRelative::default()
    }

    /// The free share of `c`'s capacity, `None` when its capacity is unknown.
    pub fn free_share(c: &Candidate<'_>) -> Option<f64> {
        let capacity = c.instance.meta.capacity;
        (capacity > 0).then(|| {
            let used = c.instance.load.active_transactions.max(0);
            f64::from(capacity - used.min(capacity)) / f64::from(capacity)
        })
    }
}

impl Selector for CapacityRelative {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        // Minimise (unknown?, -share).
        rotate_among_best(candidates, &self.rotation, |c| match Self::free_share(c) {
            Some(share) => (0u8, -share),
            None => (1u8, 0.0),
        })
    }
}

/// The candidate with the lowest measured latency; endpoints not measured yet are tried
/// first (in rotation), so every endpoint gets measured.
#[derive(Debug, Default)]
pub struct LowestLatency {
    rotation: RoundRobin,
}

impl LowestLatency {
    /// Lowest-latency selection.
    pub fn new() -> LowestLatency {
        LowestLatency::default()
    }
}

impl Selector for LowestLatency {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        rotate_among_best(candidates, &self.rotation, |c| match c.stats.latency() {
            None => (0u8, 0u128),
            Some(l) => (1u8, l.as_micros()),
        })
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
