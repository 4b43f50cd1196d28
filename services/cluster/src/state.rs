//! Reading the cluster's state from etcd, for the scheduler and for `cluster status`: the
//! nodes, the scheduler key, and each fragment's small keys (never its sessions or locks).

use std::collections::BTreeSet;

use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};

use crate::etcd::ClusterError;
use crate::keys::{Assignment, Keys, LeaderInfo, LoadSample, NodeInfo};
use crate::scheduler::FragmentMeta;

/// Attempts of one read (reads are idempotent; a request may go to a member that just died
/// before the client notices).
const READ_ATTEMPTS: u32 = 3;

/// Runs the read `f` up to [`READ_ATTEMPTS`] times while it fails.
async fn retried<T, F, Fut>(mut f: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= READ_ATTEMPTS => return Err(e.into()),
            Err(e) => {
                tracing::debug!(error = %e, attempt, "etcd read failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Fragments read per transaction (5 gets each; etcd allows 128 operations per request).
const FRAGMENTS_PER_TXN: usize = 24;

/// The key that ends the range of keys starting with `prefix`.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: to the end of the key space.
    vec![0]
}

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
    pub epoch: Option<u64>,
    pub load: Option<LoadSample>,
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
    /// The fragments asked for, by id (with whatever keys they have).
    pub fragments: Vec<FragmentKeys>,
}

/// Every fragment id that has any key below `fragments/`, in order: one small read per
/// fragment, skipping over each fragment's keys (there may be many sessions below it).
pub(crate) async fn fragment_ids(
    client: &mut Client,
    keys: &Keys,
) -> Result<Vec<u32>, ClusterError> {
    let end = prefix_end(&keys.fragments());
    let mut from: Vec<u8> = keys.fragments().into_bytes();
    let mut ids = Vec::new();
    // Bounded: ids are 5 digits, and anything unexpected is stepped over key by key.
    for _ in 0..200_000 {
        let options = GetOptions::new()
            .with_range(end.clone())
            .with_limit(1)
            .with_keys_only();
        let response = retried(|| {
            let mut c = client.clone();
            let (from, options) = (from.clone(), options.clone());
            async move { c.get(from, Some(options)).await }
        })
        .await?;
        let Some(kv) = response.kvs().first() else {
            return Ok(ids);
        };
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        match keys.fragment_of(&key) {
            Some(f) => {
                ids.push(f);
                match f.checked_add(1) {
                    Some(next) => from = keys.fragment(next).into_bytes(),
                    None => return Ok(ids),
                }
            }
            None => {
                // Not a fragment's key: step over it.
                from = kv.key().to_vec();
                from.push(0);
            }
        }
    }
    Err(ClusterError::Corrupt {
        key: keys.fragments(),
        reason: "too many keys that are no fragment's".into(),
    })
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

fn first_kv(response: Option<&TxnOpResponse>) -> Option<&KeyValue> {
    match response {
        Some(TxnOpResponse::Get(g)) => g.kvs().first(),
        _ => None,
    }
}

/// Reads the nodes, the scheduler key and the fragments `ids` at one revision. With `guard`
/// (the scheduler key's create revision), the first read is compared on it and `Ok(None)`
/// returned when it does not hold: this scheduler was deposed.
pub(crate) async fn read(
    client: &mut Client,
    keys: &Keys,
    ids: &[u32],
    guard: Option<i64>,
) -> Result<Option<Snapshot>, ClusterError> {
    let mut snapshot = Snapshot::default();
    let mut first = vec![
        TxnOp::get(keys.nodes(), Some(GetOptions::new().with_prefix())),
        TxnOp::get(keys.scheduler(), None),
    ];
    let chunks: Vec<&[u32]> = if ids.is_empty() {
        vec![&[]]
    } else {
        ids.chunks(FRAGMENTS_PER_TXN).collect()
    };
    for (n, chunk) in chunks.into_iter().enumerate() {
        let mut ops = std::mem::take(&mut first);
        // Later chunks read at the first chunk's revision: one consistent snapshot.
        let at = |o: GetOptions| {
            if n == 0 {
                o
            } else {
                o.with_revision(snapshot.revision)
            }
        };
        for &f in chunk {
            for key in [
                keys.fragment_meta(f),
                keys.assignment(f),
                keys.leader(f),
                keys.epoch(f),
                keys.load(f),
            ] {
                ops.push(TxnOp::get(key, Some(at(GetOptions::new()))));
            }
        }
        let mut txn = Txn::new();
        if let Some(rev) = guard {
            txn = txn.when([Compare::create_revision(
                keys.scheduler(),
                CompareOp::Equal,
                rev,
            )]);
        }
        let txn = txn.and_then(ops);
        let response = retried(|| {
            let mut c = client.clone();
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .await?;
        if !response.succeeded() {
            return Ok(None);
        }
        if n == 0 {
            snapshot.revision = response.header().map(|h| h.revision()).unwrap_or_default();
        }
        let results = response.op_responses();
        let mut results = results.iter();
        if n == 0 {
            if let Some(TxnOpResponse::Get(g)) = results.next() {
                for kv in g.kvs() {
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
            }
            snapshot.scheduler = first_kv(results.next()).map(|kv| SchedulerKey {
                node_id: String::from_utf8_lossy(kv.value()).into_owned(),
                create_revision: kv.create_revision(),
                lease: kv.lease(),
            });
        }
        for &id in chunk {
            let meta = first_kv(results.next()).and_then(decode::<FragmentMeta>);
            let assignment = first_kv(results.next()).and_then(decode::<Assignment>);
            let leader = first_kv(results.next()).and_then(decode::<LeaderInfo>);
            let epoch = first_kv(results.next()).and_then(|kv| {
                let text = String::from_utf8_lossy(kv.value());
                let parsed = text.trim().parse::<u64>().ok();
                if parsed.is_none() {
                    tracing::warn!(fragment = id, value = %text, "undecodable epoch; ignored");
                }
                parsed
            });
            let load = first_kv(results.next()).and_then(decode::<LoadSample>);
            snapshot.fragments.push(FragmentKeys {
                id,
                meta,
                assignment,
                leader,
                epoch,
                load,
            });
        }
    }
    let mut seen = BTreeSet::new();
    snapshot.nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    snapshot.nodes.retain(|n| seen.insert(n.node_id.clone()));
    Ok(Some(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end("/tars/fragments/"), b"/tars/fragments0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
