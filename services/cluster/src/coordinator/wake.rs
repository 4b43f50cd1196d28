//! Wakes the fragment manager as soon as placement changes: etcd watches on `nodes/` and on
//! the leader and assignment keys of `fragments/`, so a dead leader's fragments are campaigned
//! for when its lease's keys vanish, not at the next period. The manager still reads on its
//! period (the watches only make it earlier), so a watch that broke loses nothing but time;
//! a broken watch is set up again and wakes the manager once, for what it may have missed.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::WatchOptions;
use parking_lot::{Condvar, Mutex};

use crate::etcd::{ClusterError, Etcd};

/// A flag the watches raise and the manager waits on.
#[derive(Debug, Default)]
pub struct Wake {
    raised: Mutex<bool>,
    cond: Condvar,
}

impl Wake {
    /// Raises the flag and wakes the waiter.
    pub fn raise(&self) {
        *self.raised.lock() = true;
        self.cond.notify_all();
    }

    /// Waits until the flag is raised or `timeout` passed, and lowers it. Returns whether it
    /// was raised.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut raised = self.raised.lock();
        if !*raised {
            self.cond.wait_for(&mut raised, timeout);
        }
        std::mem::replace(&mut *raised, false)
    }
}

/// The watches feeding a [`Wake`]; they end when this is dropped.
#[derive(Debug)]
pub struct PlacementWatch {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PlacementWatch {
    /// Starts watching `nodes/` (every change) and `fragments/` (leader and assignment keys).
    pub fn start(etcd: &Etcd, wake: Arc<Wake>) -> PlacementWatch {
        let keys = etcd.keys();
        let watches = [
            (keys.nodes(), None),
            (keys.fragments(), Some(["/leader", "/assign"])),
        ];
        let tasks = watches
            .into_iter()
            .map(|(prefix, only)| etcd.spawn(follow(etcd.client(), prefix, only, wake.clone())))
            .collect();
        PlacementWatch { tasks }
    }
}

impl Drop for PlacementWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn follow(
    client: etcd_client::Client,
    prefix: String,
    only: Option<[&'static str; 2]>,
    wake: Arc<Wake>,
) {
    loop {
        if let Err(e) = follow_once(&client, &prefix, only, &wake).await {
            tracing::debug!(prefix, error = %e, "placement watch: setting it up again");
        }
        wake.raise();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn follow_once(
    client: &etcd_client::Client,
    prefix: &str,
    only: Option<[&'static str; 2]>,
    wake: &Wake,
) -> Result<(), ClusterError> {
    let mut c = client.clone();
    let mut stream = c
        .watch(prefix.to_owned(), Some(WatchOptions::new().with_prefix()))
        .await?;
    while let Some(resp) = stream.message().await? {
        if resp.canceled() {
            return Err(ClusterError::Unavailable(format!(
                "watch cancelled ({})",
                resp.cancel_reason()
            )));
        }
        let relevant = resp.events().iter().any(|e| {
            let key = e.kv().map(|kv| kv.key()).unwrap_or_default();
            match only {
                None => true,
                Some(suffixes) => suffixes.iter().any(|s| key.ends_with(s.as_bytes())),
            }
        });
        if relevant {
            wake.raise();
        }
    }
    Err(ClusterError::Unavailable("watch ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_raised_flag_ends_the_wait_once() {
        let wake = Arc::new(Wake::default());
        let w = wake.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.raise();
        });
        let started = Instant::now();
        assert!(wake.wait(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().expect("join");
        // Lowered: the next wait runs to its timeout.
        assert!(!wake.wait(Duration::from_millis(20)));
        // Raised before the wait: returns at once.
        wake.raise();
        assert!(wake.wait(Duration::ZERO));
    }
}
