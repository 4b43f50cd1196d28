//! The endpoints of one proxy and how calls are spread over them.
//!
//! Each endpoint is a slot: its connections (an `AdapterProxy` each on a client net thread;
//! `NetConfig::connections_per_endpoint`, used in turn), its registry [`Instance`] (metadata),
//! and its health — what the client measured ([`EndpointStats`]) and its shielding state. The [`Policy`] picks the slot
//! of each call. An endpoint that fails `failures_to_shield` calls in a row (transport errors
//! or timeouts) is shielded: skipped until `retry_after` has passed, then given one trial
//! call; success clears it. Shielded endpoints are used only when every endpoint is shielded.
//!
//! The slot list can be replaced while calls run ([`Balancer::update`], used by the locator):
//! endpoints that stay keep their connection, statistics, shielding and id.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::error::CallError;
use super::invoker::{outcome_of, CallObserver, Invoker, ResponseFuture};
use super::net::{deadline_of, AdapterProxy, CallFailure, ClientNet, EndpointHealth};
use super::policy::{CallInfo, Candidate, Policy};
use crate::endpoint::Endpoint;
use crate::packet::RequestPacket;
use crate::protocol::tars::EndpointF;
use crate::protocol::tarsrs::{Instance, StaticMeta};
use crate::stat::{StatReporter, StatTarget};

/// How a call picks its endpoint (the classic policies; see [`Policy`] for the rest).
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

/// FNV-1a with a final avalanche: stable across runs and platforms (hash rings must be the
/// same in every client).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The registry-style description of an endpoint given in a proxy string: default metadata
/// with the endpoint's `-w` weight (100 when absent).
pub fn instance_of_endpoint(object: &str, endpoint: &Endpoint) -> Instance {
    // `-w 0` is an explicit zero weight; no `-w` at all (-1) is the default.
    let weight = if endpoint.weight < 0 {
        100
    } else {
        endpoint.weight
    };
    instance_of(
        object,
        weight,
        EndpointF {
            host: endpoint.host.as_str().into(),
            port: i32::from(endpoint.port),
            timeout: i32::try_from(endpoint.timeout_ms).unwrap_or(i32::MAX),
            // TarsCpp's TC_Endpoint::EType: udp 0, tcp 1, ssl 2 (see `crate::tls`).
            istcp: match endpoint.protocol.as_str() {
                "udp" => 0,
                "ssl" => 2,
                _ => 1,
            },
            grid: endpoint.grid,
            weight_type: endpoint.weight_type,
            auth_type: endpoint.auth_type,
            ..EndpointF::default()
        },
    )
}

/// An active instance of `object` at `endpoint` with default metadata and `weight`.
pub(crate) fn instance_of(object: &str, weight: i32, endpoint: EndpointF) -> Instance {
    Instance {
        obj_name: object.into(),
        endpoint: EndpointF { weight, ..endpoint },
        meta: StaticMeta {
            weight,
            ..StaticMeta::default()
        },
        active: true,
        ..Instance::default()
    }
}

/// The client endpoint to connect to for a registry endpoint.
fn endpoint_of(e: &EndpointF) -> Option<Endpoint> {
    let port = u16::try_from(e.port).ok().filter(|p| *p > 0)?;
    let mut ep = Endpoint::tcp(e.host.to_string(), port);
    match e.istcp {
        0 => ep.protocol = "udp".into(),
        2 => ep.protocol = "ssl".into(),
        _ => {}
    }
    ep.timeout_ms = u64::try_from(e.timeout)
        .ok()
        .filter(|t| *t > 0)
        .unwrap_or(3000);
    ep.grid = e.grid;
    ep.weight = e.weight;
    ep.weight_type = e.weight_type;
    ep.auth_type = e.auth_type;
    Some(ep)
}

struct Slot {
    id: u64,
    instance: Instance,
    /// The endpoint's connections (`NetConfig::connections_per_endpoint`), used in turn.
    links: Arc<[Arc<AdapterProxy>]>,
    /// What its calls measured and its shielding, shared by its connections.
    health: Arc<EndpointHealth>,
    /// The stat head of calls to this endpoint (when statistics are reported).
    stat: Option<Arc<StatTarget>>,
    next: AtomicUsize,
}

impl Slot {
    /// The connection for the next call, with the endpoint's stat head.
    fn link(&self) -> Link {
        let n = self.links.len();
        let i = if n == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % n
        };
        (self.links[i].clone(), self.stat.clone())
    }
}

/// A connection to call through and the stat head of its endpoint.
type Link = (Arc<AdapterProxy>, Option<Arc<StatTarget>>);

/// Endpoint ids are unique in the process, not just per proxy: proxies of one communicator
/// share its policy, and selectors key their per-endpoint state by id.
static NEXT_ENDPOINT_ID: AtomicU64 = AtomicU64::new(1);

/// Picks endpoints for calls and keeps their health.
pub(crate) struct Balancer {
    object: String,
    slots: RwLock<Arc<Vec<Slot>>>,
    policy: Policy,
    shield: ShieldConfig,
    net: Arc<ClientNet>,
    /// The last locator lookup failure of this object (set by the locator, cleared by a
    /// successful lookup); carried by `CallError::NoEndpoint`.
    lookup_error: Mutex<Option<String>>,
    /// Where completed calls are recorded (TarsCpp's `AdapterProxy::stat`), if anywhere.
    stats: Option<Arc<StatReporter>>,
}

impl Balancer {
    /// A balancer over `instances`, connecting through the net threads of `net`.
    pub fn new(
        object: &str,
        instances: Vec<Instance>,
        policy: Policy,
        shield: ShieldConfig,
        net: Arc<ClientNet>,
        stats: Option<Arc<StatReporter>>,
    ) -> Balancer {
        let balancer = Balancer {
            object: object.to_owned(),
            slots: RwLock::new(Arc::new(Vec::new())),
            policy,
            shield,
            net,
            lookup_error: Mutex::new(None),
            stats,
        };
        balancer.update(instances);
        balancer
    }

    /// The object called.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Records the outcome of the last locator lookup: `Some(cause)` after a failure, `None`
    /// after a success.
    pub fn set_lookup_error(&self, cause: Option<String>) {
        *self.lookup_error.lock() = cause;
    }

    /// The error of a call that found no endpoint, with the last lookup failure.
    fn no_endpoint(&self) -> CallError {
        CallError::NoEndpoint {
            object: self.object.clone(),
            cause: self.lookup_error.lock().clone(),
        }
    }

    /// Replaces the endpoint list. Endpoints (`host:port`, TCP or UDP) that stay keep their connection,
    /// statistics, shielding and id, and take the new metadata.
    pub fn update(&self, instances: Vec<Instance>) {
        let mut slots = self.slots.write();
        let mut next: Vec<Slot> = Vec::with_capacity(instances.len());
        for instance in instances {
            let key = endpoint_key(&instance.endpoint);
            if next
                .iter()
                .any(|s| endpoint_key(&s.instance.endpoint) == key)
            {
                continue; // listed twice
            }
            let kept = slots
                .iter()
                .find(|s| endpoint_key(&s.instance.endpoint) == key);
            let slot = match kept {
                Some(s) => Slot {
                    id: s.id,
                    instance,
                    links: s.links.clone(),
                    health: s.health.clone(),
                    stat: s.stat.clone(),
                    next: AtomicUsize::new(0),
                },
                None => {
                    let Some(endpoint) = endpoint_of(&instance.endpoint) else {
                        tracing::warn!(object = %self.object, host = %instance.endpoint.host,
                            port = instance.endpoint.port, "ignoring an endpoint with an invalid port");
                        continue;
                    };
                    let health = Arc::new(EndpointHealth::new(self.shield));
                    // An endpoint with `-e 1` gets the signed package first on each connection.
                    let auth = match (endpoint.auth_type, self.net.auth_key()) {
                        (1, Some(key)) => Some((self.object.clone(), key.clone())),
                        (1, None) => {
                            tracing::warn!(object = %self.object, %endpoint,
                                "the endpoint requires authentication (-e 1) and the communicator has no key");
                            None
                        }
                        _ => None,
                    };
                    let transport = self.net.transport_for(&endpoint);
                    let links = (0..self.net.connections_per_endpoint())
                        .map(|_| {
                            let net = self.net.handle();
                            Arc::new(AdapterProxy::new(
                                &endpoint,
                                health.clone(),
                                net,
                                auth.clone(),
                                transport.clone(),
                            ))
                        })
                        .collect();
                    let stat = self.stats.as_ref().map(|r| {
                        let set = instance.endpoint.set_id.as_str();
                        Arc::new(r.client_target(
                            &self.object,
                            &endpoint.host,
                            endpoint.port,
                            (!set.is_empty()).then_some(set),
                        ))
                    });
                    Slot {
                        id: NEXT_ENDPOINT_ID.fetch_add(1, Ordering::Relaxed),
                        instance,
                        links,
                        health,
                        stat,
                        next: AtomicUsize::new(0),
                    }
                }
            };
            next.push(slot);
        }
        *slots = Arc::new(next);
    }

    /// The endpoint of a proxy that has exactly one and no hard filter: whatever the selector
    /// and the preferences say, it is the one to try (shielded or not, as when all are).
    fn only_link(&self) -> Option<Link> {
        if self.policy.has_filters() {
            return None;
        }
        match self.slots.read().as_slice() {
            [only] => Some(only.link()),
            _ => None,
        }
    }

    /// The connections to try for a call, one per endpoint, best first.
    fn order(&self, request: &RequestPacket, hash: Option<u64>) -> Vec<Link> {
        if let Some(only) = self.only_link() {
            return vec![only];
        }
        let slots = self.slots.read().clone();
        let now = Instant::now();
        let mut usable: Vec<&Slot> = slots.iter().filter(|s| s.health.available(now)).collect();
        if usable.is_empty() {
            usable = slots.iter().collect();
        }
        let candidates: Vec<Candidate<'_>> = usable
            .iter()
            .map(|s| Candidate {
                id: s.id,
                instance: &s.instance,
                stats: &s.health.stats,
            })
            .collect();
        let call = CallInfo {
            func: &request.func_name,
            hash,
            context: &request.context,
        };
        self.policy
            .order(&candidates, &call)
            .into_iter()
            .map(|i| usable[i].link())
            .collect()
    }
}

impl Balancer {
    /// The recorder of a call to the endpoint with stat head `stat`, when statistics are on.
    fn observer(
        &self,
        stat: Option<Arc<StatTarget>>,
        request: &RequestPacket,
        started: Instant,
    ) -> Option<CallObserver> {
        Some(CallObserver {
            collector: self.stats.as_ref()?.client().clone(),
            target: stat?,
            func: request.func_name.clone(),
            started,
        })
    }
}

/// What identifies an endpoint across refreshes: host, port and transport.
fn endpoint_key(e: &EndpointF) -> (&str, i32, i32) {
    (e.host.as_str(), e.port, e.istcp)
}

impl Invoker for Arc<Balancer> {
    /// Sends the request to the policy's first choice at once. When that endpoint could not
    /// take it (its connection failed before the request left), the next one in the policy's
    /// order gets it, within the same deadline.
    fn invoke(&self, mut request: RequestPacket, hash: Option<u64>) -> ResponseFuture {
        let started = Instant::now();
        if let Some((only, stat)) = self.only_link() {
            // Nowhere else to go: no request to keep for a retry.
            let observer = self.observer(stat, &request, started);
            let reply = only.call(&mut request, started);
            return ResponseFuture::observed(reply, observer);
        }
        let mut links = self.order(&request, hash).into_iter();
        let Some((first, mut stat)) = links.next() else {
            let error = self.no_endpoint();
            return ResponseFuture::ready(Err(error));
        };
        let reply = first.call(&mut request, started);
        let collector = self.stats.as_ref().map(|r| r.client().clone());
        ResponseFuture::new(async move {
            let mut reply = reply;
            let outcome = loop {
                match reply.await {
                    Ok(response) => break Ok(response),
                    Err(CallFailure::NotSent(e)) => match links.next() {
                        Some((next, next_stat)) => {
                            stat = next_stat;
                            reply = next.call(&mut request, started);
                        }
                        None => break Err(e),
                    },
                    Err(CallFailure::Failed(e)) => break Err(e),
                }
            };
            if let (Some(c), Some(t)) = (&collector, &stat) {
                c.record(t, &request.func_name, None, outcome_of(&outcome, started));
            }
            outcome
        })
    }

    /// As [`invoke`](Invoker::invoke), for a caller that blocks on the answer: when the chosen
    /// endpoint's connection is idle, the caller writes its request itself (no thread hop
    /// before the request leaves), and waits actively for a short time before parking.
    fn invoke_sync(
        &self,
        mut request: RequestPacket,
        hash: Option<u64>,
    ) -> Result<crate::packet::ResponsePacket, CallError> {
        let started = Instant::now();
        let deadline = deadline_of(&request, started).map(|(at, _)| at);
        let mut last = self.no_endpoint();
        let mut last_stat = None;
        for (link, stat) in self.order(&request, hash) {
            let reply = link.call_sync(&mut request, started);
            let outcome = match super::wait::block_on_with_deadline(
                reply,
                super::wait::SPIN,
                deadline,
                || link.nudge(),
            ) {
                Ok(response) => Ok(response),
                Err(CallFailure::NotSent(e)) => {
                    last = e;
                    last_stat = stat;
                    continue;
                }
                Err(CallFailure::Failed(e)) => Err(e),
            };
            if let Some(observer) = self.observer(stat, &request, started) {
                observer.record(&outcome);
            }
            return outcome;
        }
        let outcome = Err(last);
        if let Some(observer) = self.observer(last_stat, &request, started) {
            observer.record(&outcome);
        }
        outcome
    }

    fn invoke_oneway(
        &self,
        mut request: RequestPacket,
        hash: Option<u64>,
    ) -> Result<(), CallError> {
        let started = Instant::now();
        let mut last = self.no_endpoint();
        let mut last_stat = None;
        for (link, stat) in self.order(&request, hash) {
            match link.oneway(&mut request) {
                Ok(()) => {
                    // A one-way call succeeds once handed over; its time is the hand-over's.
                    if let Some(o) = self.observer(stat, &request, started) {
                        o.collector.record(
                            &o.target,
                            &o.func,
                            None,
                            crate::stat::CallOutcome::Success(started.elapsed()),
                        );
                    }
                    return Ok(());
                }
                Err(e) => {
                    last = e;
                    last_stat = stat;
                }
            }
        }
        if let Some(o) = self.observer(last_stat, &request, started) {
            o.record(&Err(CallError::Transport(String::new())));
        }
        Err(last)
    }
}
