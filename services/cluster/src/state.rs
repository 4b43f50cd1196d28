//! Reading the cluster's state from etcd, for the scheduler and for `cluster status`: the
//! nodes, the scheduler key, and each fragment's small keys (never its sessions or locks).

use std::collections::{BTreeMap, BTreeSet};

use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};

use crate::etcd::ClusterError;
use crate::keys::{Assignment, Keys, LeaderInfo, LoadSample, NodeInfo};
use crate::scheduler::FragmentMeta;

/// The scheduler key's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchedulerKey {
    /// The node id it holds.
    pub node_id: String,
    /// Its create revision (the term).
    pub create_revision: i64,
    /// Its lease.
    pub lease: i64,
}

/// One fragment's small keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct FragmentKeys {
    pub id: u32,
    pub meta: Option<FragmentMeta>,
    pub assignment: Option<Assignment>,
    pub leader: Option<LeaderInfo>,
    /// The leader key's create revision (the leader's fence).
    pub leader_revision: Option<i64>,
    pub epoch: Option<u64>,
    pub load: Option<LoadSample>,
}

impl FragmentKeys {
    fn new(id: u32) -> FragmentKeys {
        FragmentKeys {
            id,
            ..FragmentKeys::default()
        }
    }
}

/// What was read, at one revision.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// The etcd revision of the read.
    pub revision: i64,
    /// Live nodes, by id.
    pub nodes: Vec<NodeInfo>,
    /// The scheduler key.
    pub scheduler: Option<SchedulerKey>,
    /// Every fragment with any key, by id (with whatever keys it has).
    pub fragments: Vec<FragmentKeys>,
}

fn decode<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Option<T> {
    match serde_json::from_slice(kv.value()) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(
                key = %String::from_utf8_lossy(kv.key()),
                error = %e,
                "undecodable value in etcd; ignored"
            );
            None
        }
    }
}

fn kvs(response: Option<&TxnOpResponse>) -> &[KeyValue] {
    match response {
        Some(TxnOpResponse::Get(g)) => g.kvs(),
        _ => &[],
    }
}

/// Reads the nodes, the scheduler key and every fragment's small keys at one revision, in one
/// transaction (`fragments/` holds no sessions: they live under `tx/`). With `guard` (the
/// scheduler key's create revision) the read is compared on it and `Ok(None)` returned when
/// it does not hold: this scheduler was deposed. A request the client could not send (to a
/// dead member) is sent again within `limit` ([`crate::etcd::sent`]).
pub(crate) async fn read(
    client: &Client,
    keys: &Keys,
    limit: std::time::Duration,
    guard: Option<i64>,
) -> Result<Option<Snapshot>, ClusterError> {
    let prefix = || Some(GetOptions::new().with_prefix());
    let mut txn = Txn::new();
    if let Some(rev) = guard {
        txn = txn.when([Compare::create_revision(
            keys.scheduler(),
            CompareOp::Equal,
            rev,
        )]);
    }
    let txn = txn.and_then([
        TxnOp::get(keys.nodes(), prefix()),
        TxnOp::get(keys.scheduler(), None),
        TxnOp::get(keys.fragments(), prefix()),
    ]);
    let response = crate::etcd::sent(limit, || {
        let mut c = client.clone();
        let txn = txn.clone();
        async move { c.txn(txn).await }
    })
    .await?;
    if !response.succeeded() {
        return Ok(None);
    }
    let mut snapshot = Snapshot {
        revision: response.header().map(|h| h.revision()).unwrap_or_default(),
        ..Snapshot::default()
    };
    let results = response.op_responses();
    let mut results = results.iter();
    for kv in kvs(results.next()) {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        let id = key.strip_prefix(&keys.nodes()).unwrap_or(&key).to_owned();
        let info = decode::<NodeInfo>(kv).unwrap_or(NodeInfo {
            node_id: id.clone(),
            advertise: String::new(),
            registry_port: 0,
            coordinator_port: 0,
            started_ms: 0,
        });
        // The key names the node, whatever the value says.
        snapshot.nodes.push(NodeInfo {
            node_id: id,
            ..info
        });
    }
    snapshot.scheduler = kvs(results.next()).first().map(|kv| SchedulerKey {
        node_id: String::from_utf8_lossy(kv.value()).into_owned(),
        create_revision: kv.create_revision(),
        lease: kv.lease(),
    });
    let mut fragments: BTreeMap<u32, FragmentKeys> = BTreeMap::new();
    for kv in kvs(results.next()) {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        // Anything that is no fragment's key is stepped over.
        let Some(id) = keys.fragment_of(&key) else {
            continue;
        };
        let f = fragments.entry(id).or_insert_with(|| FragmentKeys::new(id));
        match key.strip_prefix(&keys.fragment(id)).unwrap_or_default() {
            "meta" => f.meta = decode(kv),
            "assign" => f.assignment = decode(kv),
            "leader" => {
                f.leader = decode(kv);
                f.leader_revision = Some(kv.create_revision());
            }
            "epoch" => {
                let text = String::from_utf8_lossy(kv.value());
                f.epoch = text.trim().parse::<u64>().ok();
                if f.epoch.is_none() {
                    tracing::warn!(fragment = id, value = %text, "undecodable epoch; ignored");
                }
            }
            "load" => f.load = decode(kv),
            _ => {}
        }
    }
    snapshot.fragments = fragments.into_values().collect();
    let mut seen = BTreeSet::new();
    snapshot.nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    snapshot.nodes.retain(|n| seen.insert(n.node_id.clone()));
    Ok(Some(snapshot))
}
