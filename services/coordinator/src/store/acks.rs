//! Acknowledgements waiting for durability, in the order they were asked for: what the
//! embedded store and a cluster fragment's etcd store share. Every queued change gets the next
//! sequence number; an acknowledgement waits for the sequence number queued when it was asked
//! for, so the acknowledgements a commit makes ready are always a prefix.

use std::collections::VecDeque;

use super::{Ack, StoreError};

/// The waiting acknowledgements of one store (kept under the store's queue lock).
#[derive(Default)]
pub struct AckQueue {
    queued: u64,
    durable: u64,
    waiters: VecDeque<(u64, Ack)>,
    failed: Option<StoreError>,
}

impl std::fmt::Debug for AckQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckQueue")
            .field("queued", &self.queued)
            .field("durable", &self.durable)
            .field("waiting", &self.waiters.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl AckQueue {
    /// One more change was queued; its sequence number.
    pub fn push(&mut self) -> u64 {
        self.queued += 1;
        self.queued
    }

    /// The sequence number of the last change queued.
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// The failure that stopped the store, if any.
    pub fn failed(&self) -> Option<&StoreError> {
        self.failed.as_ref()
    }

    /// Registers `ack` to run once every change queued so far is durable. When it can be
    /// answered now — nothing to wait for, the store failed, or it is `closed` — it is handed
    /// back with its outcome, to run after the lock is released.
    pub fn wait(&mut self, ack: Ack, closed: bool) -> Option<(Ack, Result<(), StoreError>)> {
        if let Some(e) = &self.failed {
            return Some((ack, Err(e.clone())));
        }
        if self.durable >= self.queued {
            return Some((ack, Ok(())));
        }
        if closed {
            return Some((ack, Err(StoreError::Closed)));
        }
        self.waiters.push_back((self.queued, ack));
        None
    }

    /// Every change up to `upto` is durable: the acknowledgements now ready (to run with
    /// `Ok`).
    pub fn durable(&mut self, upto: u64) -> Vec<Ack> {
        self.durable = self.durable.max(upto);
        let mut ready = Vec::new();
        while self.waiters.front().is_some_and(|(seq, _)| *seq <= upto) {
            if let Some((_, ack)) = self.waiters.pop_front() {
                ready.push(ack);
            }
        }
        ready
    }

    /// The store failed (the first failure is the one kept and reported from now on): every
    /// waiting acknowledgement, to run with the returned error.
    pub fn fail(&mut self, error: StoreError) -> (Vec<Ack>, StoreError) {
        let error = self.failed.get_or_insert(error).clone();
        (self.take_all(), error)
    }

    /// The store writes again (what had failed is stored now): acknowledgements wait for
    /// durability again instead of failing at once.
    pub fn recover(&mut self) {
        self.failed = None;
    }

    /// Every waiting acknowledgement (the store stops; they get `Closed` or the failure).
    pub fn take_all(&mut self) -> Vec<Ack> {
        self.waiters.drain(..).map(|(_, ack)| ack).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (Arc<Mutex<Vec<String>>>, impl Fn(&'static str) -> Ack) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let make = move |name: &'static str| -> Ack {
            let l = l.clone();
            Box::new(move |r: Result<(), StoreError>| {
                l.lock().unwrap().push(format!("{name}:{}", r.is_ok()))
            })
        };
        (log, make)
    }

    #[test]
    fn acknowledgements_wait_for_what_was_queued_before_them_in_order() {
        let (log, ack) = recorder();
        let mut q = AckQueue::default();
        // Nothing queued: answered at once.
        let (now, r) = q.wait(ack("idle"), false).expect("at once");
        now(r);
        q.push();
        assert!(q.wait(ack("a"), false).is_none());
        q.push();
        assert!(q.wait(ack("b"), false).is_none());
        for a in q.durable(1) {
            a(Ok(()));
        }
        assert_eq!(*log.lock().unwrap(), ["idle:true", "a:true"]);
        let (waiting, e) = q.fail(StoreError::Unavailable("gone".into()));
        for a in waiting {
            a(Err(e.clone()));
        }
        // Failed for good: later acknowledgements fail at once with the first failure.
        let (late, r) = q.wait(ack("late"), false).expect("at once");
        assert_eq!(r, Err(StoreError::Unavailable("gone".into())));
        late(r);
        assert_eq!(
            *log.lock().unwrap(),
            ["idle:true", "a:true", "b:false", "late:false"]
        );
        assert_eq!(
            q.fail(StoreError::Closed).1,
            StoreError::Unavailable("gone".into())
        );
    }
}
