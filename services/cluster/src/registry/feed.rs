//! The cache feed: a consistent snapshot of the registry's keys, then a watch from the
//! snapshot's revision + 1 whose events go into the node's [`Registry`]; when the watch fails
//! or was compacted, a new snapshot and a new watch. It runs on a thread of its own (the etcd
//! calls are driven on the connection's runtime) and ends when the registry is dropped.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use etcd_client::{EventType, GetOptions, KeyValue, WatchOptions};
use tars::codec::TarsStruct;
use tars_protocols::tarsrs::Instance;
use tars_registry::{Registry, RemoteChange};

use super::keys::{AliveRecord, KeyKind, RegistryKeys};
use super::{now_ms, request_limit, sent};
use crate::etcd::{ClusterError, Etcd};

/// Keys per page of the snapshot read.
const PAGE: i64 = 1000;
/// How often a waiting feed looks whether it should stop.
const POLL: Duration = Duration::from_millis(250);

/// The registrations of a snapshot, then its liveness records, at the returned revision.
pub(super) fn read_snapshot(
    etcd: &Etcd,
    keys: &RegistryKeys,
    heartbeat_timeout: Duration,
) -> Result<(Vec<RemoteChange>, i64), ClusterError> {
    let client = etcd.client();
    let base = keys.base().to_owned();
    let end = keys.range_end();
    let limit = request_limit(etcd);
    let (kvs, revision) = etcd.block_on(async move {
        let mut kvs: Vec<KeyValue> = Vec::new();
        let mut revision = 0;
        let mut from = base.into_bytes();
        loop {
            let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision > 0 {
                // Later pages at the first page's revision: one consistent snapshot.
                options = options.with_revision(revision);
            }
            let page = sent(limit, || {
                let mut client = client.clone();
                let (from, options) = (from.clone(), options.clone());
                async move { client.get(from, Some(options)).await }
            })
            .await?;
            if revision == 0 {
                revision = page
                    .header()
                    .map(|h| h.revision())
                    .ok_or_else(|| ClusterError::Unavailable("no header".into()))?;
            }
            let more = page.more();
            let page = page.kvs();
            let Some(last) = page.last() else { break };
            from = last.key().to_vec();
            from.push(0);
            kvs.extend_from_slice(page);
            if !more {
                break;
            }
        }
        Ok::<_, ClusterError>((kvs, revision))
    })?;
    let now = Instant::now();
    let now_ms = now_ms();
    let stale = now.checked_sub(heartbeat_timeout * 2).unwrap_or(now);
    let mut registered = Vec::new();
    let mut alive = Vec::new();
    for kv in &kvs {
        let Some(change) = decode(keys, kv, false) else {
            continue;
        };
        match change {
            Decoded::Registered(instance) => registered.push(RemoteChange::Registered {
                instance: Box::new(instance),
                revision: kv.mod_revision(),
                seen: None,
            }),
            Decoded::Alive(id, record) => {
                // The writer's wall clock: the age of the evidence.
                let age = u64::try_from(now_ms.saturating_sub(record.at_ms)).unwrap_or(0);
                let seen = now.checked_sub(Duration::from_millis(age)).unwrap_or(stale);
                alive.push(RemoteChange::Alive {
                    obj: id.0,
                    host: id.1,
                    port: id.2,
                    load: record.load,
                    last_heartbeat_ms: record.last_heartbeat_ms,
                    seen,
                });
            }
            Decoded::Deregistered(..) => {}
        }
    }
    registered.extend(alive);
    Ok((registered, revision))
}

enum Decoded {
    Registered(Instance),
    Deregistered(super::keys::InstanceId),
    Alive(super::keys::InstanceId, AliveRecord),
}

/// What a key-value (of a put, or of a delete when `deleted`) says; `None` for what the
/// registry ignores (foreign keys, deleted `alive` keys, values that do not decode).
fn decode(keys: &RegistryKeys, kv: &KeyValue, deleted: bool) -> Option<Decoded> {
    let key = String::from_utf8_lossy(kv.key());
    let (kind, id) = keys.parse(&key)?;
    match (kind, deleted) {
        (KeyKind::Instance, true) => Some(Decoded::Deregistered(id)),
        (KeyKind::Alive, true) => None,
        (KeyKind::Instance, false) => match Instance::decode_from(kv.value()) {
            Ok(instance) => Some(Decoded::Registered(instance)),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "registry: an instance in etcd does not decode");
                None
            }
        },
        (KeyKind::Alive, false) => match AliveRecord::decode_from(kv.value()) {
            Ok(record) => Some(Decoded::Alive(id, record)),
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "registry: a liveness record in etcd does not decode");
                None
            }
        },
    }
}

/// Why a watch ended.
enum Ended {
    /// The registry was dropped: the feed ends.
    Stop,
    /// Read and watch again.
    Restart(String),
}

/// The feed of one registry.
pub(super) struct Feed {
    pub(super) etcd: Etcd,
    pub(super) keys: RegistryKeys,
    pub(super) node_id: String,
    pub(super) heartbeat_timeout: Duration,
    pub(super) registry: Weak<Registry>,
    pub(super) stopped: Receiver<()>,
}

impl Feed {
    fn stopping(&self) -> bool {
        matches!(self.stopped.try_recv(), Err(TryRecvError::Disconnected))
            || self.registry.strong_count() == 0
    }

    /// Sleeps `d` in steps, false when the feed should stop.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopping() {
                return false;
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        !self.stopping()
    }

    /// Watches from `revision + 1` (the snapshot `attach` applied), and again after every
    /// new snapshot, until the registry is dropped.
    pub(super) fn run(self, mut revision: i64) {
        let mut failures = 0u32;
        loop {
            match self.watch(revision) {
                Ended::Stop => return,
                Ended::Restart(why) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 {
                        tracing::warn!(reason = %why, "registry watch ended; reading etcd again");
                    } else {
                        tracing::debug!(reason = %why, "registry watch ended again");
                    }
                }
            }
            // Read a new snapshot, until etcd answers.
            loop {
                let backoff = Duration::from_millis(100u64 << failures.clamp(1, 4));
                if !self.pause(backoff) {
                    return;
                }
                match read_snapshot(&self.etcd, &self.keys, self.heartbeat_timeout) {
                    Ok((snapshot, at)) => {
                        let Some(registry) = self.registry.upgrade() else {
                            return;
                        };
                        registry.reset(snapshot, at);
                        revision = at;
                        tracing::info!(revision, "registry cache read again from etcd");
                        break;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        tracing::debug!(error = %e, "registry snapshot read failed");
                    }
                }
            }
            failures = 1;
        }
    }

    /// One watch from `revision + 1`, applying its events.
    fn watch(&self, revision: i64) -> Ended {
        let mut client = self.etcd.client();
        let base = self.keys.base().to_owned();
        let options = WatchOptions::new()
            .with_range(self.keys.range_end())
            .with_start_revision(revision + 1);
        let limit = Duration::from_millis(self.etcd.config().request_timeout_ms.max(1));
        let started = self.etcd.block_on(async move {
            tokio::time::timeout(limit, client.watch(base, Some(options))).await
        });
        let mut stream = match started {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Ended::Restart(format!("starting the watch: {e}")),
            Err(_) => return Ended::Restart("starting the watch timed out".into()),
        };
        loop {
            if self.stopping() {
                return Ended::Stop;
            }
            let message = self
                .etcd
                .block_on(async { tokio::time::timeout(POLL, stream.message()).await });
            let response = match message {
                Err(_) => continue, // nothing within POLL
                Ok(Err(e)) => return Ended::Restart(format!("watch: {e}")),
                Ok(Ok(None)) => return Ended::Restart("the watch stream ended".into()),
                Ok(Ok(Some(r))) => r,
            };
            if response.compact_revision() > 0 {
                return Ended::Restart(format!(
                    "compacted at revision {}",
                    response.compact_revision()
                ));
            }
            if response.canceled() {
                return Ended::Restart(format!("watch canceled: {}", response.cancel_reason()));
            }
            let changes = self.changes(response.events());
            if changes.is_empty() {
                continue;
            }
            let Some(registry) = self.registry.upgrade() else {
                return Ended::Stop;
            };
            registry.apply(changes);
        }
    }

    /// The registry changes of watch events (this node's own `alive` records are skipped:
    /// it knows better).
    fn changes(&self, events: &[etcd_client::Event]) -> Vec<RemoteChange> {
        let seen = Instant::now();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let deleted = event.event_type() == EventType::Delete;
            match decode(&self.keys, kv, deleted) {
                Some(Decoded::Registered(instance)) => out.push(RemoteChange::Registered {
                    instance: Box::new(instance),
                    revision: kv.mod_revision(),
                    seen: Some(seen),
                }),
                Some(Decoded::Deregistered((obj, host, port))) => {
                    out.push(RemoteChange::Deregistered {
                        obj,
                        host,
                        port,
                        revision: kv.mod_revision(),
                    })
                }
                Some(Decoded::Alive((obj, host, port), record)) if record.node != self.node_id => {
                    out.push(RemoteChange::Alive {
                        obj,
                        host,
                        port,
                        load: record.load,
                        last_heartbeat_ms: record.last_heartbeat_ms,
                        seen,
                    })
                }
                Some(Decoded::Alive(..)) | None => {}
            }
        }
        out
    }
}
