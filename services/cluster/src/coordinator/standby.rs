//! A standby's warm copy of a fragment: the stored sessions of a fragment this node stands by
//! for, kept current by an etcd watch, so that taking the fragment over reads only what
//! changed since (the keys, and the values written after the copy's revision) instead of
//! every session.
//!
//! The copy starts with one consistent range read of `tx/<f>/`, then watches the prefix from
//! the next revision and applies every put and delete. When the watch fails or was compacted
//! it reads again. [`WarmCopy::snapshot`] gives the records with the revision they are
//! current at; [`load`] turns a snapshot into the fragment's current records.

use std::collections::HashMap;
use std::sync::Arc;

use etcd_client::{EventType, GetOptions, WatchOptions};
use parking_lot::Mutex;

use crate::etcd::{ClusterError, Etcd};

/// The records of a fragment (key → stored session) as of a revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The etcd revision the records are current at.
    pub revision: i64,
    /// Key → record.
    pub records: HashMap<String, Vec<u8>>,
}

#[derive(Default)]
struct Copy {
    snapshot: Snapshot,
    ready: bool,
}

/// A warm copy kept by a background task (see the module docs).
pub struct WarmCopy {
    fragment: u32,
    copy: Arc<Mutex<Copy>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WarmCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let copy = self.copy.lock();
        f.debug_struct("WarmCopy")
            .field("fragment", &self.fragment)
            .field("ready", &copy.ready)
            .field("revision", &copy.snapshot.revision)
            .field("records", &copy.snapshot.records.len())
            .finish()
    }
}

impl WarmCopy {
    /// Starts following fragment `fragment`'s sessions.
    pub fn start(etcd: &Etcd, fragment: u32) -> WarmCopy {
        let copy = Arc::new(Mutex::new(Copy::default()));
        let prefix = etcd.keys().sessions(fragment);
        let task = etcd.spawn(follow(
            etcd.client(),
            etcd.config().request_timeout_ms,
            prefix,
            copy.clone(),
        ));
        WarmCopy {
            fragment,
            copy,
            task,
        }
    }

    /// The fragment it follows.
    pub fn fragment(&self) -> u32 {
        self.fragment
    }

    /// The copy, once it has read the fragment (`None` before, and while it re-reads).
    pub fn snapshot(&self) -> Option<Snapshot> {
        let copy = self.copy.lock();
        copy.ready.then(|| copy.snapshot.clone())
    }
}

impl Drop for WarmCopy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(
    client: etcd_client::Client,
    timeout_ms: u64,
    prefix: String,
    copy: Arc<Mutex<Copy>>,
) {
    let limit = std::time::Duration::from_millis(timeout_ms.max(1));
    loop {
        if let Err(e) = follow_once(&client, limit, &prefix, &copy).await {
            tracing::debug!(prefix, error = %e, "warm copy: re-reading");
        }
        copy.lock().ready = false;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn follow_once(
    client: &etcd_client::Client,
    limit: std::time::Duration,
    prefix: &str,
    copy: &Mutex<Copy>,
) -> Result<(), ClusterError> {
    let got = crate::etcd::sent(limit, || {
        let mut c = client.clone();
        let p = prefix.to_owned();
        async move { c.get(p, Some(GetOptions::new().with_prefix())).await }
    })
    .await?;
    let revision = got.header().map_or(0, |h| h.revision());
    {
        let mut c = copy.lock();
        c.snapshot = Snapshot {
            revision,
            records: records_of(got.kvs()).collect(),
        };
        c.ready = true;
    }
    let mut c = client.clone();
    let mut stream = c
        .watch(
            prefix.to_owned(),
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1),
            ),
        )
        .await?;
    while let Some(resp) = stream.message().await? {
        if resp.canceled() || resp.compact_revision() > 0 {
            return Err(ClusterError::Unavailable(format!(
                "watch cancelled ({}), compacted at {}",
                resp.cancel_reason(),
                resp.compact_revision()
            )));
        }
        let mut c = copy.lock();
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            match event.event_type() {
                EventType::Put => {
                    c.snapshot.records.insert(key, kv.value().to_vec());
                }
                EventType::Delete => {
                    c.snapshot.records.remove(&key);
                }
            }
            c.snapshot.revision = c.snapshot.revision.max(kv.mod_revision());
        }
    }
    Err(ClusterError::Unavailable("watch ended".into()))
}

/// Key and value of each of `kvs`.
fn records_of(kvs: &[etcd_client::KeyValue]) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
    kvs.iter().map(|kv| {
        (
            String::from_utf8_lossy(kv.key()).into_owned(),
            kv.value().to_vec(),
        )
    })
}

/// How a fragment's records were loaded at takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStats {
    /// Keys read (log entries, the checkpoint and its image).
    pub records: usize,
    /// Open sessions they held.
    pub sessions: usize,
    /// Whether a warm copy was used.
    pub from_warm_copy: bool,
    /// Values read from etcd (all of them without a warm copy; only the changed ones with).
    pub values_read: usize,
}

/// The current records of the fragment below `prefix`, read consistently at one revision. With
/// a warm copy, only the keys and the values changed after the copy's revision are read.
pub async fn load(
    etcd: &Etcd,
    prefix: &str,
    warm: Option<Snapshot>,
) -> Result<(Vec<(String, Vec<u8>)>, LoadStats), ClusterError> {
    let Some(warm) = warm else {
        let got = etcd
            .get(prefix.to_owned(), Some(GetOptions::new().with_prefix()))
            .await?;
        let records: Vec<(String, Vec<u8>)> = records_of(got.kvs()).collect();
        let n = records.len();
        return Ok((
            records,
            LoadStats {
                records: n,
                sessions: 0,
                from_warm_copy: false,
                values_read: n,
            },
        ));
    };
    let keys = etcd
        .get(
            prefix.to_owned(),
            Some(GetOptions::new().with_prefix().with_keys_only()),
        )
        .await?;
    let at = keys.header().map_or(0, |h| h.revision());
    let changed = etcd
        .get(
            prefix.to_owned(),
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_revision(at)
                    .with_min_mod_revision(warm.revision + 1),
            ),
        )
        .await?;
    let mut fresh: HashMap<String, Vec<u8>> = records_of(changed.kvs()).collect();
    let values_read = fresh.len();
    let mut records = Vec::with_capacity(keys.kvs().len());
    for kv in keys.kvs() {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        let value = match fresh.remove(&key) {
            Some(v) => v,
            None => match warm.records.get(&key) {
                // Unchanged since the copy's revision: the copy holds its value.
                Some(v) if kv.mod_revision() <= warm.revision => v.clone(),
                // The copy is behind for this key (it cannot be, but never guess): read all.
                _ => return Box::pin(load(etcd, prefix, None)).await,
            },
        };
        records.push((key, value));
    }
    let n = records.len();
    Ok((
        records,
        LoadStats {
            records: n,
            sessions: 0,
            from_warm_copy: true,
            values_read,
        },
    ))
}
