//! [`StatCollector`]: per-period aggregation of call outcomes, sharded so that threads
//! recording at the same time rarely meet on a lock.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::protocol::tars::{StatMicMsgBody, StatMicMsgHead};
use crate::TarsString;

/// TarsCpp's default `intervalCount` bounds in milliseconds (`StatReport::resetStatInterv`).
pub const INTERVAL_BOUNDS: [i32; 9] = [5, 10, 50, 100, 200, 500, 1000, 2000, 3000];

/// How a call ended, as the stat service counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered with return code 0 after this long.
    Success(Duration),
    /// No answer within the call's timeout.
    Timeout,
    /// Anything else: a non-zero return code, a transport or decoding failure.
    Exception,
}

/// The fixed part of a head: everything but the interface name and the caller's address.
/// Made once per endpoint (client) or per server, and shared by every call recorded under it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatTarget {
    /// `masterName`.
    pub master_name: TarsString,
    /// `slaveName`.
    pub slave_name: TarsString,
    /// `slaveIp`.
    pub slave_ip: TarsString,
    /// `slavePort`.
    pub slave_port: i32,
    /// `slaveSetName`.
    pub slave_set_name: TarsString,
    /// `slaveSetArea`.
    pub slave_set_area: TarsString,
    /// `slaveSetID`.
    pub slave_set_id: TarsString,
    /// `tarsVersion`.
    pub tars_version: TarsString,
}

impl StatTarget {
    fn head(&self, interface: &TarsString, master_ip: Option<IpAddr>) -> StatMicMsgHead {
        StatMicMsgHead {
            master_name: self.master_name.clone(),
            slave_name: self.slave_name.clone(),
            interface_name: interface.clone(),
            master_ip: master_ip
                .map(|ip| TarsString::from(ip.to_string()))
                .unwrap_or_default(),
            slave_ip: self.slave_ip.clone(),
            slave_port: self.slave_port,
            return_value: 0,
            slave_set_name: self.slave_set_name.clone(),
            slave_set_area: self.slave_set_area.clone(),
            slave_set_id: self.slave_set_id.clone(),
            tars_version: self.tars_version.clone(),
        }
    }
}

/// A fast, randomly seeded hasher for the hot path's maps (foldhash).
type Fast = foldhash::fast::RandomState;

/// The outer key: the target by identity (cheap to hash; two targets with equal fields still
/// merge when the period's heads are built) and the caller's address.
type TargetKey = (usize, Option<IpAddr>);

/// One target's calls of the period: the target (kept alive for building its heads) and the
/// outcomes per interface, looked up by `&str` so a hit clones nothing.
#[derive(Debug)]
struct PerTarget {
    target: Arc<StatTarget>,
    interfaces: HashMap<TarsString, Acc, Fast>,
}

/// One head's body while it is collected: fixed buckets, no allocation per call.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    count: i32,
    timeout: i32,
    exec: i32,
    total: i64,
    max: i32,
    min: i32,
    buckets: [i32; INTERVAL_BOUNDS.len()],
}

impl Acc {
    /// Adds one call: TarsCpp's one-call body merged as `StatReport::submit` merges.
    fn add(&mut self, outcome: CallOutcome) {
        let ms = match outcome {
            CallOutcome::Success(d) => {
                let ms = i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
                self.count = self.count.saturating_add(1);
                self.total = self.total.saturating_add(i64::from(ms));
                ms
            }
            CallOutcome::Timeout => {
                self.timeout = self.timeout.saturating_add(1);
                0
            }
            CallOutcome::Exception => {
                self.exec = self.exec.saturating_add(1);
                0
            }
        };
        self.max = self.max.max(ms);
        // The smallest non-zero time.
        if self.min == 0 || (ms != 0 && ms < self.min) {
            self.min = ms;
        }
        if let Some(i) = INTERVAL_BOUNDS.iter().position(|bound| ms < *bound) {
            self.buckets[i] += 1;
        }
    }

    fn merge_into(&self, body: &mut StatMicMsgBody) {
        body.count += self.count;
        body.timeout_count += self.timeout;
        body.exec_count += self.exec;
        body.total_rsp_time += self.total;
        body.max_rsp_time = body.max_rsp_time.max(self.max);
        if body.min_rsp_time == 0 || (self.min != 0 && self.min < body.min_rsp_time) {
            body.min_rsp_time = self.min;
        }
        for (bound, n) in INTERVAL_BOUNDS.iter().zip(self.buckets) {
            *body.interval_count.entry(*bound).or_insert(0) += n;
        }
    }
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard number (assigned round-robin on first use).
    static SHARD: Cell<usize> = Cell::new(NEXT_SHARD.fetch_add(1, Ordering::Relaxed));
}

/// Call outcomes of the current period by head, as the stat service receives them.
///
/// Recording costs one lock of this thread's shard (threads are spread over 16 shards), one
/// hash lookup and a few additions. An entry is allocated the first time a head appears and
/// kept (zeroed) while the head is in use, so the steady state allocates nothing; a head idle
/// for a whole period is dropped.
#[derive(Debug)]
pub struct StatCollector {
    shards: Box<[Mutex<HashMap<TargetKey, PerTarget, Fast>>]>,
}

impl Default for StatCollector {
    fn default() -> Self {
        StatCollector::new()
    }
}

impl StatCollector {
    /// An empty collector with a shard per expected thread (16).
    pub fn new() -> StatCollector {
        StatCollector {
            shards: (0..16)
                .map(|_| Mutex::new(HashMap::with_hasher(Fast::default())))
                .collect(),
        }
    }

    /// Records one call under `target`, `interface` and (server side) the caller's address.
    pub fn record(
        &self,
        target: &Arc<StatTarget>,
        interface: &TarsString,
        peer: Option<IpAddr>,
        outcome: CallOutcome,
    ) {
        let shard = SHARD.try_with(Cell::get).unwrap_or(0) % self.shards.len();
        let mut map = self.shards[shard].lock();
        let per = map
            .entry((Arc::as_ptr(target) as usize, peer))
            .or_insert_with(|| PerTarget {
                target: target.clone(),
                interfaces: HashMap::with_hasher(Fast::default()),
            });
        match per.interfaces.get_mut(interface.as_str()) {
            Some(acc) => acc.add(outcome),
            None => {
                let mut acc = Acc::default();
                acc.add(outcome);
                per.interfaces.insert(interface.clone(), acc);
            }
        }
    }

    /// The period's statistics by head, leaving the collector empty for the next period.
    /// Heads without any call are left out.
    pub fn take(&self) -> BTreeMap<StatMicMsgHead, StatMicMsgBody> {
        let mut out: BTreeMap<StatMicMsgHead, StatMicMsgBody> = BTreeMap::new();
        for shard in self.shards.iter() {
            let mut map = shard.lock();
            map.retain(|(_, peer), per| {
                per.interfaces.retain(|interface, acc| {
                    if acc.count == 0 && acc.timeout == 0 && acc.exec == 0 {
                        // Idle for a whole period: forget the head.
                        return false;
                    }
                    let head = per.target.head(interface, *peer);
                    acc.merge_into(out.entry(head).or_default());
                    *acc = Acc::default();
                    true
                });
                !per.interfaces.is_empty()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(outcomes: &[CallOutcome]) -> StatMicMsgBody {
        let c = StatCollector::new();
        let t = Arc::new(StatTarget::default());
        for o in outcomes {
            c.record(&t, &"f".into(), None, *o);
        }
        let mut m = c.take();
        assert_eq!(m.len(), 1);
        m.pop_first().map(|(_, b)| b).unwrap_or_default()
    }

    #[test]
    fn bodies_as_tarscpp() {
        let ms = |n| CallOutcome::Success(Duration::from_millis(n));
        let b = body(&[
            ms(3),
            ms(7),
            ms(60),
            ms(4000),
            CallOutcome::Timeout,
            CallOutcome::Exception,
        ]);
        assert_eq!((b.count, b.timeout_count, b.exec_count), (4, 1, 1));
        assert_eq!(b.total_rsp_time, 3 + 7 + 60 + 4000);
        assert_eq!((b.max_rsp_time, b.min_rsp_time), (4000, 3));
        // 3 ms, the timeout and the exception (maxRspTime 0) in bucket 5; 7 in 10; 60 in 100;
        // 4000 in none. Every bucket present.
        let expected: BTreeMap<i32, i32> = [
            (5, 3),
            (10, 1),
            (50, 0),
            (100, 1),
            (200, 0),
            (500, 0),
            (1000, 0),
            (2000, 0),
            (3000, 0),
        ]
        .into();
        assert_eq!(b.interval_count, expected);
    }

    #[test]
    fn min_ignores_zero_times_and_periods_reset() {
        let b = body(&[CallOutcome::Exception, CallOutcome::Success(Duration::ZERO)]);
        assert_eq!(b.min_rsp_time, 0);
        let c = StatCollector::new();
        let t = Arc::new(StatTarget::default());
        c.record(&t, &"f".into(), None, CallOutcome::Timeout);
        assert_eq!(c.take().len(), 1);
        assert!(c.take().is_empty(), "an idle period reports nothing");
    }
}
