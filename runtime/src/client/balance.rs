//! Endpoint selection and shielding for a proxy with several endpoints.
//!
//! Policies: round-robin, mod-hash and consistent hash (both on [`CallOptions::hash`], falling
//! back to round-robin for calls without a hash), and smooth weighted round-robin on the
//! endpoints' `-w` weights. An endpoint that fails `failures_to_shield` calls in a row
//! (transport errors or timeouts) is shielded: skipped until `retry_after` has passed, then
//! given one trial call; success clears it.
//!
//! [`CallOptions::hash`]: super::CallOptions::hash

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::error::CallError;
use super::invoker::{Invoker, ResponseFuture};
use super::tcp::TcpInvoker;
use crate::packet::RequestPacket;

/// How a call picks its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Each call to the next endpoint.
    #[default]
    RoundRobin,
    /// `hash % endpoints`.
    ModHash,
    /// A hash ring with virtual nodes: adding or removing an endpoint moves few keys.
    ConsistentHash,
    /// Smooth weighted round-robin on the endpoints' `-w` weights.
    Weighted,
}

/// Shielding thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShieldConfig {
    /// Consecutive failures that shield an endpoint.
    pub failures_to_shield: u32,
    /// How long a shielded endpoint is skipped before a trial call.
    pub retry_after: Duration,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        ShieldConfig {
            failures_to_shield: 3,
            retry_after: Duration::from_secs(30),
        }
    }
}

struct Slot {
    invoker: TcpInvoker,
    weight: i64,
    failures: AtomicU32,
    shielded_until: Mutex<Option<Instant>>,
}

impl Slot {
    fn available(&self, now: Instant) -> bool {
        match *self.shielded_until.lock() {
            None => true,
            Some(until) => now >= until,
        }
    }

    fn record(&self, ok: bool, config: &ShieldConfig) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            *self.shielded_until.lock() = None;
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= config.failures_to_shield {
            // Shield (again): the trial after the interval failed too, or the threshold was hit.
            *self.shielded_until.lock() = Some(Instant::now() + config.retry_after);
        }
    }
}

/// Picks endpoints for calls and keeps their health.
pub(crate) struct Balancer {
    slots: Vec<Slot>,
    selection: Selection,
    shield: ShieldConfig,
    next: AtomicUsize,
    ring: Vec<(u64, usize)>,
    current_weights: Mutex<Vec<i64>>,
}

/// Virtual nodes per endpoint on the consistent-hash ring.
const VNODES: usize = 160;

/// FNV-1a, stable across runs and platforms (the ring must be the same for every client).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Final avalanche so nearby keys spread over the ring.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Balancer {
    pub fn new(invokers: Vec<TcpInvoker>, selection: Selection, shield: ShieldConfig) -> Balancer {
        let slots: Vec<Slot> = invokers
            .into_iter()
            .map(|invoker| {
                let w = invoker.endpoint().weight;
                Slot {
                    invoker,
                    weight: if w < 0 { 100 } else { w as i64 },
                    failures: AtomicU32::new(0),
                    shielded_until: Mutex::new(None),
                }
            })
            .collect();
        let mut ring: Vec<(u64, usize)> = slots
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let ep = s.invoker.endpoint();
                (0..VNODES).map(move |v| {
                    (
                        stable_hash(format!("{}:{}#{v}", ep.host, ep.port).as_bytes()),
                        i,
                    )
                })
            })
            .collect();
        ring.sort_unstable();
        let n = slots.len();
        Balancer {
            slots,
            selection,
            shield,
            next: AtomicUsize::new(0),
            ring,
            current_weights: Mutex::new(vec![0; n]),
        }
    }

    /// The order in which endpoints are tried for a call: the selected one first, then the
    /// others. Shielded endpoints come last (tried only if nothing else is available).
    pub fn order(&self, hash: Option<u64>) -> Vec<usize> {
        let n = self.slots.len();
        let now = Instant::now();
        let first = match (self.selection, hash) {
            (Selection::ModHash, Some(h)) => (h % n as u64) as usize,
            (Selection::ConsistentHash, Some(h)) => {
                let key = stable_hash(&h.to_be_bytes());
                let i = self.ring.partition_point(|(p, _)| *p < key);
                self.ring
                    .get(i)
                    .or_else(|| self.ring.first())
                    .map(|(_, s)| *s)
                    .unwrap_or(0)
            }
            (Selection::Weighted, _) => self.weighted_pick(now),
            _ => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        let (mut ok, mut shielded): (Vec<usize>, Vec<usize>) = (0..n)
            .map(|i| (first + i) % n)
            .partition(|&i| self.slots[i].available(now));
        ok.append(&mut shielded);
        ok
    }

    fn weighted_pick(&self, now: Instant) -> usize {
        let mut cw = self.current_weights.lock();
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if !s.available(now) || s.weight == 0 {
                continue;
            }
            cw[i] += s.weight;
            total += s.weight;
            if best.is_none_or(|b| cw[i] > cw[b]) {
                best = Some(i);
            }
        }
        match best {
            Some(b) => {
                cw[b] -= total;
                b
            }
            None => self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len(),
        }
    }

    fn is_failure(r: &Result<crate::packet::ResponsePacket, CallError>) -> bool {
        matches!(r, Err(CallError::Transport(_)) | Err(CallError::Timeout(_)))
    }
}

impl Invoker for std::sync::Arc<Balancer> {
    fn invoke(&self, request: RequestPacket, hash: Option<u64>) -> ResponseFuture {
        let mut last = CallError::NoEndpoint(request.servant_name.clone());
        for i in self.order(hash) {
            let slot = &self.slots[i];
            if let Err(e) = slot.invoker.ensure_connected() {
                slot.record(false, &self.shield);
                last = e;
                continue;
            }
            let fut = slot.invoker.invoke(request.clone(), hash);
            let me = self.clone();
            return Box::pin(async move {
                let r = fut.await;
                me.slots[i].record(!Balancer::is_failure(&r), &me.shield);
                r
            });
        }
        Box::pin(async move { Err(last) })
    }

    fn invoke_oneway(&self, request: RequestPacket, hash: Option<u64>) -> Result<(), CallError> {
        let mut last = CallError::NoEndpoint(request.servant_name.clone());
        for i in self.order(hash) {
            let slot = &self.slots[i];
            match slot.invoker.invoke_oneway(request.clone(), hash) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    slot.record(false, &self.shield);
                    last = e;
                }
            }
        }
        Err(last)
    }
}
