//! Leadership of one fragment: an etcd key held with the node's lease.
//!
//! [`campaign`] takes `fragments/<f>/leader` only if nobody holds it (compare: create
//! revision 0) and bumps `fragments/<f>/epoch` in the same transaction (compare: the epoch
//! key unchanged since it was read), so two campaigns never take the same epoch. The leader
//! key's create revision is the leader's [`Fence`]: every write the leader makes compares it,
//! so a deposed, paused or partitioned leader cannot write once its lease expired and someone
//! else took the key — its transactions simply fail their compare.

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use crate::etcd::{ClusterError, Etcd};
use crate::keys::LeaderInfo;

/// A held leadership: which key, and the revision that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The fragment.
    pub fragment: u32,
    /// Its leader key.
    pub key: String,
    /// The leader key's create revision when this leader took it.
    pub revision: i64,
    /// The epoch this leadership took.
    pub epoch: u64,
    /// Whether the previous leader handed the fragment over gracefully (flushed, then
    /// resigned): its undecided transactions stay open.
    pub graceful: bool,
}

impl Fence {
    /// The compare every write of this leader carries.
    pub fn compare(&self) -> Compare {
        Compare::create_revision(self.key.clone(), CompareOp::Equal, self.revision)
    }
}

/// Tries to become leader of `fragment` with `lease`. `Ok(None)` when someone else leads (or
/// won the race).
pub async fn campaign(
    etcd: &Etcd,
    fragment: u32,
    lease: i64,
    node_id: &str,
    coordinator: &str,
) -> Result<Option<Fence>, ClusterError> {
    let keys = etcd.keys();
    let (leader_key, epoch_key) = (keys.leader(fragment), keys.epoch(fragment));
    let handover_key = keys.handover(fragment);
    let handover = etcd.get(handover_key.clone(), None).await?;
    let (handed_over, handover_rev) = match handover.kvs().first() {
        Some(kv) => (
            std::str::from_utf8(kv.value())
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok()),
            kv.mod_revision(),
        ),
        None => (None, 0),
    };
    let got = etcd.get(epoch_key.clone(), None).await?;
    let (epoch, epoch_rev) = match got.kvs().first() {
        Some(kv) => {
            let text = std::str::from_utf8(kv.value()).unwrap_or_default();
            let epoch = text
                .trim()
                .parse::<u64>()
                .map_err(|_| ClusterError::Corrupt {
                    key: epoch_key.clone(),
                    reason: format!("epoch {text:?} is not a number"),
                })?;
            (epoch, kv.mod_revision())
        }
        None => (0, 0),
    };
    let next = epoch + 1;
    let info = LeaderInfo {
        node_id: node_id.to_owned(),
        epoch: next,
        coordinator: coordinator.to_owned(),
    };
    let value = serde_json::to_vec(&info).map_err(|e| ClusterError::Corrupt {
        key: leader_key.clone(),
        reason: e.to_string(),
    })?;
    let txn = Txn::new()
        .when([
            Compare::create_revision(leader_key.clone(), CompareOp::Equal, 0),
            Compare::mod_revision(epoch_key.clone(), CompareOp::Equal, epoch_rev),
            Compare::mod_revision(handover_key, CompareOp::Equal, handover_rev),
        ])
        .and_then([
            TxnOp::put(
                leader_key.clone(),
                value,
                Some(PutOptions::new().with_lease(lease)),
            ),
            TxnOp::put(epoch_key, next.to_string(), None),
        ]);
    let resp = etcd.txn(txn).await?;
    if !resp.succeeded() {
        return Ok(None);
    }
    let revision = resp.header().map(|h| h.revision()).unwrap_or_default();
    Ok(Some(Fence {
        fragment,
        key: leader_key,
        revision,
        epoch: next,
        // The last leader (epoch `epoch`) flushed and resigned on purpose.
        graceful: epoch > 0 && handed_over == Some(epoch),
    }))
}

/// Gives leadership up (deletes the leader key if it is still this leadership's).
pub async fn resign(etcd: &Etcd, fence: &Fence) -> Result<bool, ClusterError> {
    let txn = Txn::new()
        .when([fence.compare()])
        .and_then([TxnOp::delete(fence.key.clone(), None)]);
    Ok(etcd.txn(txn).await?.succeeded())
}

/// Gives leadership up after a flush (a graceful handover): deletes the leader key and records
/// this epoch as handed over, so the successor keeps the undecided transactions open.
pub async fn resign_handover(etcd: &Etcd, fence: &Fence) -> Result<bool, ClusterError> {
    let txn = Txn::new().when([fence.compare()]).and_then([
        TxnOp::delete(fence.key.clone(), None),
        TxnOp::put(
            etcd.keys().handover(fence.fragment),
            fence.epoch.to_string(),
            None,
        ),
    ]);
    Ok(etcd.txn(txn).await?.succeeded())
}

/// Creates fragment `f` (its `meta` key) unless it exists; whether this call created it.
pub async fn create_fragment(etcd: &Etcd, f: u32, why: &str) -> Result<bool, ClusterError> {
    let key = etcd.keys().fragment_meta(f);
    let value = serde_json::json!({
        "created_ms": tars_coordinator::session::wall_clock_ms(),
        "reason": why,
    })
    .to_string();
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key, value, None)]);
    Ok(etcd.txn(txn).await?.succeeded())
}
