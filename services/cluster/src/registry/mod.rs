//! The registry in cluster mode: registrations in etcd, every node answering QueryF and
//! RegistryObj from its own cache fed by an etcd watch.
//!
//! [`EtcdRegistry`] is the [`RegistrationBackend`] of a node's
//! [`Registry`]; [`open_registry`] opens a
//! [`RegistryService`] over it.
//!
//! **Writes.** A registration is one etcd transaction putting the instance under
//! `registry/instances/<object>/<host>:<port>` (the Tars-encoded `tarsrs.Instance`) and its
//! liveness under `registry/alive/...` (see [`keys`]); a deregistration deletes both in one
//! transaction. Either is acknowledged only after etcd committed it, and is listed by the
//! acknowledging node at once (read your writes); the other nodes list it when their watch
//! delivers it (milliseconds). When etcd has no majority (or does not answer within the
//! connection's request timeout) the write fails with
//! [`StoreError::Unavailable`], which RegistryObj answers with
//! [`STORE_UNAVAILABLE`](tars_registry::servant::STORE_UNAVAILABLE) (-3); nothing is
//! half-written. A write refused because etcd did not answer in time may still take effect
//! later (the etcd leader had proposed it before losing its majority, and commits it when the
//! majority returns); a write refused with etcd's "no leader" never does. Either way every
//! node lists whatever etcd committed once its watch delivers it, and since registering and
//! deregistering are idempotent, clients simply retry.
//!
//! **Cache.** Each node reads the registry's keys with one consistent range read (paged at
//! one revision), replaces its view with it ([`Registry::reset`](tars_registry::Registry::reset)),
//! then watches the prefix from that revision + 1 and applies every event
//! ([`Registry::apply`](tars_registry::Registry::apply)): object versions move and the
//! `watch` long polls held on that node are answered. A late event never undoes a newer
//! change (changes carry etcd revisions). When the watch fails or was compacted the node reads
//! and watches again; meanwhile — also while etcd has no majority — lookups are answered from
//! the cache.
//!
//! **Heartbeats and expiry.** Heartbeats are not written to etcd one by one. The node that
//! receives an instance's heartbeat records it locally and writes the instance's `alive` key
//! (the heartbeat's load and time, see [`AliveRecord`]) only when the last write of that
//! instance from this node is `heartbeat_timeout / 3` old, when the load differs from the one
//! last written (at most once per `heartbeat_timeout / 10`), or when the instance had been
//! listed inactive; the writes are batched (one transaction per 64 instances, each
//! conditional on the instance still being registered, so a late write cannot outlive a
//! deregistration). So the etcd write rate is bounded by 3 per instance and heartbeat timeout
//! (plus load changes, at most 10 per timeout), whatever the heartbeat rate.
//!
//! Every node takes an `alive` write it receives through the watch as a heartbeat at the time
//! it receives it (no clocks are compared), and a registration likewise. Each node then
//! applies the usual rule: an instance without a heartbeat for `heartbeat_timeout` is
//! inactive. While an instance heartbeats (interval `h` below the timeout) the gap between
//! `alive` writes is at most `max(h, timeout/3 + h)`, so no node lists it inactive by mistake
//! when `timeout/3 + h` is below the timeout (the default interval of tars-rs is timeout/3);
//! when it stops, the receiving node lists it inactive `heartbeat_timeout` after its last
//! heartbeat, every other node at most `heartbeat_timeout` after the last `alive` write,
//! which is at most timeout/3 earlier. A heartbeat after the instance turned inactive is
//! written at once, so it turns active everywhere within the watch delay. Only at start (and
//! after the watch restarted) are the writers' wall clocks used: the age of an `alive` record
//! in the snapshot is `now - at_ms`. While etcd has no majority the `alive` writes wait (the
//! latest per instance is kept and retried), so instances heartbeating on one node stay
//! active there and turn inactive elsewhere.
//!
//! Each node's object versions are its own (they count every change it saw, liveness
//! included): a `watch` client that moves to another node gets one extra answer.
//!
//! A heartbeat that reaches a node before its watch delivered the registration (made on
//! another node a few milliseconds before) is answered "unknown": the instance registers
//! again, which is harmless.

pub mod keys;

mod alive;
mod feed;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use parking_lot::Mutex;
use tars::codec::TarsStruct;
use tars_protocols::tarsrs::Instance;
use tars_registry::{
    HeartbeatRecord, RegistrationBackend, Registry, RegistryConfig, RegistryService, StoreError,
};

use crate::etcd::{ClusterError, Etcd};

pub use keys::{AliveRecord, KeyKind, RegistryKeys};

use alive::AliveWriter;

/// The most instances one registration may carry (two etcd operations each, within etcd's
/// default limit of 128 operations per transaction).
pub const MAX_INSTANCES_PER_REGISTRATION: usize = 64;

/// Settings of a node's registry backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdRegistryOptions {
    /// This node's id (written into its `alive` records, so it can skip its own).
    pub node_id: String,
    /// The registry's heartbeat timeout (paces the `alive` writes).
    pub heartbeat_timeout: Duration,
}

impl EtcdRegistryOptions {
    /// `alive` writes of one instance: at least this often while it heartbeats.
    pub fn refresh_interval(&self) -> Duration {
        self.heartbeat_timeout / 3
    }

    /// `alive` writes of one instance whose load changed: at most this often.
    pub fn load_interval(&self) -> Duration {
        self.heartbeat_timeout / 10
    }
}

/// The etcd [`RegistrationBackend`] of one node (see the module docs).
pub struct EtcdRegistry {
    etcd: Etcd,
    keys: RegistryKeys,
    options: EtcdRegistryOptions,
    alive: Arc<AliveWriter>,
    /// Set by `attach`: the threads run.
    attached: Mutex<bool>,
    /// Dropped with the backend: its threads end.
    _stop: crossbeam_channel::Sender<()>,
    stopped: crossbeam_channel::Receiver<()>,
}

impl std::fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("base", &self.keys.base())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// `ClusterError` → `StoreError`: every etcd failure is "unavailable" (retry).
fn unavailable(e: ClusterError) -> StoreError {
    match e {
        ClusterError::Corrupt { key, reason } => {
            StoreError::Db(format!("etcd key {key:?}: {reason}"))
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl EtcdRegistry {
    /// A backend over `etcd` (nothing is read before [`RegistrationBackend::attach`], which
    /// [`RegistryService::open_with`] calls).
    pub fn new(etcd: Etcd, options: EtcdRegistryOptions) -> Arc<EtcdRegistry> {
        let keys = RegistryKeys::new(etcd.keys());
        let (stop, stopped) = crossbeam_channel::bounded(0);
        Arc::new(EtcdRegistry {
            alive: Arc::new(AliveWriter::new(options.clone())),
            etcd,
            keys,
            options,
            attached: Mutex::new(false),
            _stop: stop,
            stopped,
        })
    }

    /// The keys it writes.
    pub fn keys(&self) -> &RegistryKeys {
        &self.keys
    }

    /// Its settings.
    pub fn options(&self) -> &EtcdRegistryOptions {
        &self.options
    }

    /// Runs one transaction (see [`txn`]).
    fn txn(&self, t: Txn) -> Result<etcd_client::TxnResponse, ClusterError> {
        txn(&self.etcd, t)
    }
}

pub(crate) use crate::etcd::{request_limit, sent};

/// Runs one transaction (see [`sent`]).
fn txn(etcd: &Etcd, t: Txn) -> Result<etcd_client::TxnResponse, ClusterError> {
    let client = etcd.client();
    let limit = request_limit(etcd);
    etcd.block_on(sent(limit, || {
        let mut client = client.clone();
        let t = t.clone();
        async move { client.txn(t).await }
    }))
}

fn revision_of(r: &etcd_client::TxnResponse) -> Result<i64, ClusterError> {
    r.header()
        .map(|h| h.revision())
        .ok_or_else(|| ClusterError::Unavailable("etcd answered without a header".into()))
}

impl RegistrationBackend for EtcdRegistry {
    /// Nothing: [`RegistrationBackend::attach`] fills the registry from etcd.
    fn load_all(&self) -> Result<Vec<Instance>, StoreError> {
        Ok(Vec::new())
    }

    fn put_all(&self, instances: &[Instance]) -> Result<i64, StoreError> {
        // One write per instance (etcd refuses a key twice in one transaction): the last wins.
        let mut latest: HashMap<keys::InstanceId, &Instance> = HashMap::new();
        for i in instances {
            latest.insert(
                (i.obj_name.clone(), i.endpoint.host.clone(), i.endpoint.port),
                i,
            );
        }
        if latest.len() > MAX_INSTANCES_PER_REGISTRATION {
            return Err(StoreError::Db(format!(
                "{} instances in one registration (at most {MAX_INSTANCES_PER_REGISTRATION})",
                latest.len()
            )));
        }
        let at_ms = now_ms();
        let mut ops = Vec::with_capacity(latest.len() * 2);
        for ((obj, host, port), i) in &latest {
            ops.push(TxnOp::put(
                self.keys.instance(obj, host, *port),
                i.encode_to_bytes().to_vec(),
                None,
            ));
            let alive = AliveRecord {
                node: self.options.node_id.clone(),
                at_ms,
                last_heartbeat_ms: 0,
                load: i.load.clone(),
            };
            ops.push(TxnOp::put(
                self.keys.alive(obj, host, *port),
                alive.encode_to_bytes().to_vec(),
                None,
            ));
        }
        let r = self.txn(Txn::new().and_then(ops)).map_err(unavailable)?;
        let revision = revision_of(&r).map_err(unavailable)?;
        let now = Instant::now();
        for (id, i) in latest {
            self.alive.written(id, now, i.load.clone());
        }
        Ok(revision)
    }

    fn remove(&self, obj: &str, host: &str, port: i32) -> Result<(bool, i64), StoreError> {
        let instance = self.keys.instance(obj, host, port);
        let txn = Txn::new()
            .when([Compare::version(instance.clone(), CompareOp::Greater, 0)])
            .and_then([
                TxnOp::delete(instance, None),
                TxnOp::delete(self.keys.alive(obj, host, port), None),
            ]);
        let r = self.txn(txn).map_err(unavailable)?;
        let revision = revision_of(&r).map_err(unavailable)?;
        self.alive.forget(&(obj.into(), host.into(), port));
        Ok((r.succeeded(), revision))
    }

    fn heartbeat(&self, beat: &HeartbeatRecord<'_>) {
        self.alive.heartbeat(beat);
    }

    /// Reads the registry's keys (a consistent snapshot) into `registry`, then starts the
    /// watch that feeds it and the writer of `alive` records. Fails when etcd cannot be
    /// read (no majority, unreachable) or the threads cannot start.
    fn attach(&self, registry: &Arc<Registry>) -> Result<(), StoreError> {
        let mut attached = self.attached.lock();
        if *attached {
            return Err(StoreError::Db(
                "the etcd registry backend is attached already".into(),
            ));
        }
        let (snapshot, revision) =
            feed::read_snapshot(&self.etcd, &self.keys, self.options.heartbeat_timeout)
                .map_err(unavailable)?;
        registry.reset(snapshot, revision);
        let feed = feed::Feed {
            etcd: self.etcd.clone(),
            keys: self.keys.clone(),
            node_id: self.options.node_id.clone(),
            heartbeat_timeout: self.options.heartbeat_timeout,
            registry: Arc::downgrade(registry) as Weak<Registry>,
            stopped: self.stopped.clone(),
        };
        std::thread::Builder::new()
            .name("tars-registry-feed".into())
            .spawn(move || feed.run(revision))
            .map_err(StoreError::Io)?;
        let writer = self.alive.clone();
        let etcd = self.etcd.clone();
        let keys = self.keys.clone();
        let stopped = self.stopped.clone();
        std::thread::Builder::new()
            .name("tars-registry-alive".into())
            .spawn(move || writer.run(&etcd, &keys, &stopped))
            .map_err(StoreError::Io)?;
        *attached = true;
        Ok(())
    }
}

/// Opens the registry of a node in cluster mode: a [`RegistryService`] (serve it like the
/// embedded one: `start()`, or hosted in `tarsd`) over an [`EtcdRegistry`] on `etcd`.
/// `node_id` names this node in its `alive` records (unique per node);
/// `config.heartbeat_timeout_ms` paces them; `config.data_dir` is not used. Fails when etcd
/// cannot be read now.
pub fn open_registry(
    etcd: &Etcd,
    node_id: &str,
    config: RegistryConfig,
) -> Result<RegistryService, StoreError> {
    let backend = EtcdRegistry::new(
        etcd.clone(),
        EtcdRegistryOptions {
            node_id: node_id.to_owned(),
            heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms),
        },
    );
    RegistryService::open_with(config, backend)
}
