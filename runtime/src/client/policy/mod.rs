//! Load-balancing policies: which endpoint of an object a call goes to.
//!
//! A [`Policy`] is composed of hard [`Filter`]s (a candidate failing one is never chosen),
//! soft preferences (also filters: the candidates passing them are preferred, the others are
//! the fallback when none pass), and a [`Selector`] that picks one of what is left. Users plug
//! their own filters and selectors by implementing the traits. Every policy also avoids
//! instances whose dynamic health is UNHEALTHY: they get calls only when the hard filters
//! leave nothing else ([`Policy::include_unhealthy`] turns this off).
//!
//! What a policy sees of each endpoint is a [`Candidate`]: the registry's [`Instance`] (static
//! metadata such as weight, region, capacity, feature flags; dynamic metadata from heartbeats
//! such as load, health, active transactions, average transaction time) and the client's own
//! [`EndpointStats`] (calls in flight, measured latency).
//!
//! Built in: selectors [`RoundRobin`], [`Random`], [`ModHash`], [`ConsistentHash`],
//! [`SmoothWeighted`], [`LeastActive`], [`CapacityRelative`] (random in proportion to free
//! slots, so many clients with the same stale metadata do not herd onto one instance),
//! [`LowestLatency`] (with exploration and aging of samples, so a recovered endpoint is
//! measured again), [`LowestAvgTransactionTime`], [`XidAffinity`]; filters
//! [`RequireFeatures`], [`Environment`], [`BusinessType`], [`HealthAtLeast`], [`InSet`],
//! [`Region`] (region/IDC first = `Policy::new(..).prefer(Region::new("sz"))`).

mod filters;
mod selectors;
mod stats;

use crate::TarsString;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use filters::{
    set_matches, BusinessType, Environment, HealthAtLeast, InSet, Region, RequireFeatures,
};
pub use selectors::{
    CapacityRelative, ConsistentHash, LeastActive, LowestAvgTransactionTime, LowestLatency,
    ModHash, Random, RoundRobin, SmoothWeighted, XidAffinity, EXPLORE_EVERY,
};
pub use stats::{EndpointStats, LATENCY_TTL, LATENCY_WINDOW};

use crate::protocol::tarsrs::{HealthStatus, Instance};

/// Context key carrying the global transaction id (XID) of a call, read by [`XidAffinity`].
pub const XID_CONTEXT_KEY: &str = "TX_XID";

/// One endpoint as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Id of the endpoint, unique in the process and kept across endpoint-list refreshes, for
    /// selectors that keep per-endpoint state (proxies of one communicator share a policy).
    pub id: u64,
    /// The endpoint and its registry metadata.
    pub instance: &'a Instance,
    /// What this client measured.
    pub stats: &'a EndpointStats,
}

/// The call being placed.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    /// Function name.
    pub func: &'a str,
    /// Selection hash ([`CallOptions::hash`](super::CallOptions::hash) or the routekey).
    pub hash: Option<u64>,
    /// The call's context.
    pub context: &'a BTreeMap<TarsString, TarsString>,
}

impl CallInfo<'_> {
    /// The call's XID, if it is part of a global transaction.
    pub fn xid(&self) -> Option<&str> {
        self.context.get(XID_CONTEXT_KEY).map(|s| s.as_str())
    }
}

/// Decides whether a candidate may (hard filter) or should (preference) serve a call.
pub trait Filter: Send + Sync + 'static {
    /// Whether `candidate` passes.
    fn accepts(&self, candidate: &Candidate<'_>, call: &CallInfo<'_>) -> bool;
}

/// Picks one candidate for a call.
pub trait Selector: Send + Sync + 'static {
    /// The index in `candidates` (never empty) of the chosen one; `None` chooses none.
    fn select(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Option<usize>;
}

/// Whether an instance's dynamic health is UNHEALTHY (or a value from a newer IDL ranked
/// below it): such instances get calls only when nothing else is left, unless the policy
/// [includes them](Policy::include_unhealthy).
pub fn is_unhealthy(instance: &Instance) -> bool {
    i32::from(instance.load.health) >= i32::from(HealthStatus::UNHEALTHY)
}

/// Filters, preferences and a selector. Cheap to clone (shared parts).
///
/// Every policy avoids UNHEALTHY instances ([`is_unhealthy`]): they are considered only when
/// the hard filters leave nothing else, and come last in [`order`](Policy::order). This acts
/// before the preferences (a healthy instance in another region beats an unhealthy one in
/// the preferred region). [`include_unhealthy`](Policy::include_unhealthy) turns it off.
#[derive(Clone)]
pub struct Policy {
    filters: Vec<Arc<dyn Filter>>,
    preferences: Vec<Arc<dyn Filter>>,
    selector: Arc<dyn Selector>,
    avoid_unhealthy: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("filters", &self.filters.len())
            .field("preferences", &self.preferences.len())
            .field("avoid_unhealthy", &self.avoid_unhealthy)
            .finish_non_exhaustive()
    }
}

impl Default for Policy {
    /// Round-robin over the instances that are not UNHEALTHY.
    fn default() -> Self {
        Policy::new(RoundRobin::new())
    }
}

impl Policy {
    /// A policy choosing with `selector` among all candidates, UNHEALTHY ones only when no
    /// other is left.
    pub fn new(selector: impl Selector) -> Policy {
        Policy {
            filters: Vec::new(),
            preferences: Vec::new(),
            selector: Arc::new(selector),
            avoid_unhealthy: true,
        }
    }

    /// Adds a hard filter: candidates failing it are never chosen.
    pub fn filter(mut self, filter: impl Filter) -> Policy {
        self.filters.push(Arc::new(filter));
        self
    }

    /// Adds a preference: when some candidates pass it, only they are considered; when none
    /// does, all are (fallback). Preferences apply in the order they were added.
    pub fn prefer(mut self, preference: impl Filter) -> Policy {
        self.preferences.push(Arc::new(preference));
        self
    }

    /// Lets UNHEALTHY instances compete with the others (by default they get calls only when
    /// nothing else is left). A hard [`HealthAtLeast`] filter still applies.
    pub fn include_unhealthy(mut self) -> Policy {
        self.avoid_unhealthy = false;
        self
    }

    /// Whether the policy has hard filters (which can leave no candidate at all).
    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }

    /// Whether this policy avoids UNHEALTHY instances (the default).
    pub fn avoids_unhealthy(&self) -> bool {
        self.avoid_unhealthy
    }

    /// The index in `candidates` of the endpoint for `call`; `None` when the filters leave
    /// nothing.
    pub fn choose(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Option<usize> {
        self.order(candidates, call).first().copied()
    }

    /// Every candidate the filters allow, in the order to try them: the selector's choice,
    /// then the other candidates of the narrowest preference, then those of each wider one,
    /// then the healthy ones, and the UNHEALTHY ones last.
    pub fn order(&self, candidates: &[Candidate<'_>], call: &CallInfo<'_>) -> Vec<usize> {
        let allowed: Vec<usize> = (0..candidates.len())
            .filter(|&i| self.filters.iter().all(|f| f.accepts(&candidates[i], call)))
            .collect();
        if allowed.is_empty() {
            return Vec::new();
        }
        // Each narrowing that leaves something is a level; the selector picks in the last.
        let mut levels: Vec<Vec<usize>> = vec![allowed];
        let mut narrow = |keep: &dyn Fn(usize) -> bool| {
            let current = levels.last().map(Vec::as_slice).unwrap_or_default();
            let narrowed: Vec<usize> = current.iter().copied().filter(|&i| keep(i)).collect();
            if !narrowed.is_empty() && narrowed.len() < current.len() {
                levels.push(narrowed);
            }
        };
        if self.avoid_unhealthy {
            narrow(&|i| !is_unhealthy(candidates[i].instance));
        }
        for p in &self.preferences {
            narrow(&|i| p.accepts(&candidates[i], call));
        }
        let preferred = levels.last().map(Vec::as_slice).unwrap_or_default();
        let view: Vec<Candidate<'_>> = preferred.iter().map(|&i| candidates[i]).collect();
        let mut order = Vec::with_capacity(levels[0].len());
        let mut placed = vec![false; candidates.len()];
        if let Some(&pick) = self
            .selector
            .select(&view, call)
            .and_then(|k| preferred.get(k))
        {
            order.push(pick);
            placed[pick] = true;
        }
        for level in levels.iter().rev() {
            for &i in level {
                if !placed[i] {
                    placed[i] = true;
                    order.push(i);
                }
            }
        }
        order
    }
}

impl From<super::Selection> for Policy {
    fn from(selection: super::Selection) -> Policy {
        use super::Selection;
        match selection {
            Selection::RoundRobin => Policy::new(RoundRobin::new()),
            Selection::ModHash => Policy::new(ModHash::new()),
            Selection::ConsistentHash => Policy::new(ConsistentHash::new()),
            Selection::Weighted => Policy::new(SmoothWeighted::new()),
        }
    }
}
