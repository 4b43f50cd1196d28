//! A node's etcd lease: granted once, kept alive every third of its TTL. Keys written with
//! it (the node's entry, the leader keys of the fragments it leads, the scheduler key)
//! disappear when the node dies, which is what failover waits for.
//!
//! When a keep-alive is not answered for a whole TTL the lease is taken as lost — etcd may
//! already have expired it — and [`NodeLease::lost`] fires: whoever holds leadership with it
//! must stop acknowledging at once. Leaders also fence every write with a compare on their
//! leader key, so even a node that has not noticed yet (paused, partitioned) cannot write.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::etcd::{ClusterError, Etcd};

/// A granted lease and its keep-alive task.
#[derive(Debug, Clone)]
pub struct NodeLease {
    id: i64,
    ttl: Duration,
    alive: Arc<AtomicBool>,
    /// When the last keep-alive that etcd confirmed was sent, in ms after `base`.
    confirmed_ms: Arc<AtomicU64>,
    base: Instant,
    lost: watch::Receiver<bool>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl NodeLease {
    /// Grants a lease of `ttl` (etcd may raise it: its minimum is 1.5 × the election
    /// timeout) and keeps it alive until [`NodeLease::revoke`] or drop of every clone.
    pub fn grant(etcd: &Etcd, ttl: Duration) -> Result<NodeLease, ClusterError> {
        let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let mut client = etcd.client();
        let sent_before = Instant::now();
        let granted = etcd.block_on(async move { client.lease_grant(secs, None).await })?;
        let id = granted.id();
        let ttl = Duration::from_secs(u64::try_from(granted.ttl().max(1)).unwrap_or(1));
        let alive = Arc::new(AtomicBool::new(true));
        let confirmed_ms = Arc::new(AtomicU64::new(0));
        let base = sent_before;
        let (tx, lost) = watch::channel(false);
        // The task holds a client, not the Etcd: the last Etcd (and its runtime) must not be
        // dropped on the runtime's own threads.
        let task = etcd.spawn(keep_alive(
            etcd.client(),
            id,
            ttl,
            alive.clone(),
            Confirmed {
                base,
                ms: confirmed_ms.clone(),
            },
            tx,
        ));
        Ok(NodeLease {
            id,
            ttl,
            alive,
            confirmed_ms,
            base,
            lost,
            task: Arc::new(task),
        })
    }

    /// The lease id (for `PutOptions::with_lease`).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The TTL etcd granted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the lease is still believed alive.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Whether the lease is certainly still granted: alive, and etcd confirmed a keep-alive
    /// sent less than 90% of the TTL ago (etcd restarted the TTL no earlier than that send).
    /// A leader serves reads only while this holds, so a leader that was paused or cut off
    /// past its TTL answers nothing from memory before it notices (its writes are fenced
    /// anyway).
    pub fn is_valid(&self) -> bool {
        if !self.is_alive() {
            return false;
        }
        let confirmed = Duration::from_millis(self.confirmed_ms.load(Ordering::Acquire));
        let age = self.base.elapsed().saturating_sub(confirmed);
        age < self.ttl.mul_f64(0.9)
    }

    /// Resolves once the lease is lost.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Stops keeping the lease alive without revoking it: etcd expires it after its TTL, as
    /// when the process died (tests of failover; a node that must stop at once).
    pub fn abandon(&self) {
        self.task.abort();
        self.alive.store(false, Ordering::Release);
    }

    /// Revokes the lease (its keys vanish now, not after the TTL) and stops keeping it alive.
    pub fn revoke(&self, etcd: &Etcd) {
        self.task.abort();
        self.alive.store(false, Ordering::Release);
        let mut client = etcd.client();
        let id = self.id;
        if let Err(e) = etcd.block_on(async move { client.lease_revoke(id).await }) {
            tracing::warn!(lease = id, error = %e, "revoking the node lease");
        }
    }
}

/// Where the keep-alive task records when the last confirmed keep-alive was sent.
struct Confirmed {
    base: Instant,
    ms: Arc<AtomicU64>,
}

async fn keep_alive(
    client: etcd_client::Client,
    id: i64,
    ttl: Duration,
    alive: Arc<AtomicBool>,
    confirmed_at: Confirmed,
    lost: watch::Sender<bool>,
) {
    let period = ttl / 3;
    // The last time etcd confirmed the lease: past `ttl` after it, the lease may be gone.
    let mut confirmed = Instant::now();
    let mut stream = None;
    loop {
        let left = ttl.saturating_sub(confirmed.elapsed());
        if left.is_zero() {
            break;
        }
        // No round may wait longer than a period: a stream to a member that died answers
        // nothing (until the connection's keep-alive notices), so a silent stream is dropped
        // and the next one goes to another member while the lease still has time.
        let round_limit = left.min(period);
        if stream.is_none() {
            let mut c = client.clone();
            match tokio::time::timeout(round_limit, c.lease_keep_alive(id)).await {
                Ok(Ok(s)) => stream = Some(s),
                Ok(Err(e)) => {
                    tracing::debug!(lease = id, error = %e, "lease keep-alive stream");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Err(_) => continue,
            }
        }
        let Some((keeper, responses)) = stream.as_mut() else {
            continue;
        };
        let sent = Instant::now();
        let round = async {
            keeper.keep_alive().await?;
            responses.message().await
        };
        match tokio::time::timeout(round_limit, round).await {
            Ok(Ok(Some(r))) if r.ttl() > 0 => {
                confirmed = sent;
                let ms = sent
                    .saturating_duration_since(confirmed_at.base)
                    .as_millis();
                confirmed_at
                    .ms
                    .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Release);
                tokio::time::sleep(period).await;
            }
            Ok(Ok(Some(_))) => {
                // TTL 0: etcd says the lease expired.
                break;
            }
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                stream = None;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    tracing::warn!(lease = id, "node lease lost");
    alive.store(false, Ordering::Release);
    let _ = lost.send(true);
}
