//! The writer of `alive` records: decides which heartbeats are written (see the module docs
//! of [`crate::registry`]) and writes them in batches from a thread of its own, so a
//! heartbeat never waits for etcd.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use parking_lot::Mutex;
use tars::codec::TarsStruct;
use tars_protocols::tarsrs::DynamicMeta;
use tars_registry::HeartbeatRecord;

use super::keys::{AliveRecord, InstanceId, RegistryKeys};
use super::EtcdRegistryOptions;
use crate::etcd::{ClusterError, Etcd};

/// Instances per transaction (a compare and a put each; etcd allows 128 of each).
const BATCH: usize = 64;

#[derive(Default)]
struct State {
    /// Per instance: when this node last queued (or wrote) its liveness, and that load.
    written: HashMap<InstanceId, (Instant, DynamicMeta)>,
    /// Queued records (the latest per instance).
    pending: HashMap<InstanceId, AliveRecord>,
}

/// The queued `alive` records and the pacing of each instance.
pub(super) struct AliveWriter {
    options: EtcdRegistryOptions,
    state: Mutex<State>,
    wake: Sender<()>,
    woken: Receiver<()>,
}

impl AliveWriter {
    pub(super) fn new(options: EtcdRegistryOptions) -> AliveWriter {
        let (wake, woken) = crossbeam_channel::bounded(1);
        AliveWriter {
            options,
            state: Mutex::new(State::default()),
            wake,
            woken,
        }
    }

    /// A registration wrote the instance's liveness with `load`.
    pub(super) fn written(&self, id: InstanceId, at: Instant, load: DynamicMeta) {
        let mut state = self.state.lock();
        state.pending.remove(&id);
        state.written.insert(id, (at, load));
    }

    /// The instance was deregistered.
    pub(super) fn forget(&self, id: &InstanceId) {
        let mut state = self.state.lock();
        state.pending.remove(id);
        state.written.remove(id);
    }

    /// A heartbeat was recorded: queues an `alive` record when it is due.
    pub(super) fn heartbeat(&self, beat: &HeartbeatRecord<'_>) {
        let now = Instant::now();
        let id: InstanceId = (beat.obj.into(), beat.host.into(), beat.port);
        {
            let mut state = self.state.lock();
            let due = match state.written.get(&id) {
                None => true,
                Some((at, load)) => {
                    let age = now.saturating_duration_since(*at);
                    beat.revived
                        || age >= self.options.refresh_interval()
                        || (load != beat.load && age >= self.options.load_interval())
                }
            };
            if !due {
                return;
            }
            state.written.insert(id.clone(), (now, beat.load.clone()));
            state.pending.insert(
                id,
                AliveRecord {
                    node: self.options.node_id.clone(),
                    at_ms: beat.at_ms,
                    last_heartbeat_ms: beat.at_ms,
                    load: beat.load.clone(),
                },
            );
        }
        // Full means a wake is pending already.
        let _ = self.wake.try_send(());
    }

    /// The writer thread: writes what is queued until `stopped` disconnects.
    pub(super) fn run(&self, etcd: &Etcd, keys: &RegistryKeys, stopped: &Receiver<()>) {
        let mut failures = 0u32;
        let mut pruned = Instant::now();
        loop {
            if matches!(stopped.try_recv(), Err(TryRecvError::Disconnected)) {
                return;
            }
            // After a failure, retry the queued records within a second.
            let wait = if failures > 0 {
                Duration::from_millis(100u64 << failures.min(3))
            } else {
                Duration::from_millis(250)
            };
            match self.woken.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let batch: Vec<(InstanceId, AliveRecord)> = self.state.lock().pending.drain().collect();
            if !batch.is_empty() {
                match write(etcd, keys, &batch) {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        if failures == 1 {
                            tracing::warn!(error = %e, records = batch.len(),
                                "cannot write registry liveness to etcd; retrying");
                        }
                        let mut state = self.state.lock();
                        for (id, record) in batch {
                            // A newer record queued meanwhile wins.
                            state.pending.entry(id).or_insert(record);
                        }
                    }
                }
            }
            // Forget the pacing of instances this node no longer hears from.
            if pruned.elapsed() >= self.options.heartbeat_timeout {
                pruned = Instant::now();
                let keep = self.options.heartbeat_timeout * 2;
                self.state
                    .lock()
                    .written
                    .retain(|_, (at, _)| at.elapsed() < keep);
            }
        }
    }
}

/// Writes `batch`, each record only while its instance is registered.
fn write(
    etcd: &Etcd,
    keys: &RegistryKeys,
    batch: &[(InstanceId, AliveRecord)],
) -> Result<(), ClusterError> {
    for chunk in batch.chunks(BATCH) {
        if txn(etcd, conditional(keys, chunk))? {
            continue;
        }
        // Some instance was deregistered meanwhile: write the others one by one.
        for one in chunk {
            txn(etcd, conditional(keys, std::slice::from_ref(one)))?;
        }
    }
    Ok(())
}

/// One transaction putting the records of `chunk` if every instance is registered.
fn conditional(keys: &RegistryKeys, chunk: &[(InstanceId, AliveRecord)]) -> Txn {
    let compares: Vec<Compare> = chunk
        .iter()
        .map(|((obj, host, port), _)| {
            Compare::version(keys.instance(obj, host, *port), CompareOp::Greater, 0)
        })
        .collect();
    let puts: Vec<TxnOp> = chunk
        .iter()
        .map(|((obj, host, port), record)| {
            TxnOp::put(
                keys.alive(obj, host, *port),
                record.encode_to_bytes().to_vec(),
                None,
            )
        })
        .collect();
    Txn::new().when(compares).and_then(puts)
}

/// Runs `t` (bounded by the request timeout); whether its compares held.
fn txn(etcd: &Etcd, t: Txn) -> Result<bool, ClusterError> {
    super::txn(etcd, t).map(|r| r.succeeded())
}
