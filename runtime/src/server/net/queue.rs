//! The bounded request queue between net threads and business threads.
//!
//! Requests travel in batches, one batch per connection and read pass, so a pipelining client
//! costs one queue hand-off (and at most one business-thread wake-up) per pass rather than per
//! request. The bound is on requests, not batches: a counter shared by both sides admits a
//! request only below 4/5 of the capacity (the rest get -9), so queued memory stays bounded
//! however the requests are grouped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::net_thread::{NetHandle, ReplyTo};
use crate::packet::RequestPacket;

/// Requests of one connection (or one UDP sender) read in one pass.
pub(crate) struct JobBatch {
    pub conn: ReplyTo,
    pub net: NetHandle,
    pub received: Instant,
    pub requests: Vec<RequestPacket>,
    pub caller: crate::server::Caller,
}

/// The sending side (one clone per net thread).
#[derive(Clone)]
pub(crate) struct JobQueue {
    tx: Sender<JobBatch>,
    pub(crate) queued: Arc<AtomicUsize>,
    admit_below: usize,
}

/// The receiving side (one clone per business thread).
#[derive(Clone)]
pub(crate) struct JobSource {
    rx: Receiver<JobBatch>,
    queued: Arc<AtomicUsize>,
}

/// A queue holding at most `capacity` requests; admission stops at 4/5 of it.
pub(crate) fn job_queue(capacity: usize) -> (JobQueue, JobSource) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    let capacity = capacity.max(1);
    (
        JobQueue {
            tx,
            queued: queued.clone(),
            admit_below: (capacity.saturating_mul(4) / 5).max(1),
        },
        JobSource { rx, queued },
    )
}

impl JobQueue {
    /// Reserves room for one more request; false when the queue is past 4/5 full.
    pub fn admit(&self) -> bool {
        let mut n = self.queued.load(Ordering::Relaxed);
        loop {
            if n >= self.admit_below {
                return false;
            }
            match self
                .queued
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => n = current,
            }
        }
    }

    /// Hands over a batch of admitted requests. Returns it when no business thread is left
    /// (shutdown), releasing their reservations.
    pub fn push(&self, batch: JobBatch) -> Result<(), Box<JobBatch>> {
        let n = batch.requests.len();
        self.tx.send(batch).map_err(|e| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            Box::new(e.into_inner())
        })
    }

    /// Releases reservations of requests that were admitted but not pushed.
    pub fn release(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
    }
}

impl JobSource {
    /// The next batch; `None` once every net thread dropped its queue and the queue is empty.
    pub fn next(&self) -> Option<JobBatch> {
        let batch = self.rx.recv().ok()?;
        self.queued
            .fetch_sub(batch.requests.len(), Ordering::AcqRel);
        Some(batch)
    }
}
