//! The state of transactions: a [`GlobalSession`] and its [`BranchSession`]s.

use std::time::{Duration, Instant};

use tars_protocols::tarstx::{BranchStatus, BranchType, GlobalStatus};

/// One branch (a resource manager's part) of a global transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchSession {
    /// Unique within the coordinator.
    pub branch_id: i64,
    /// AT, TCC, SAGA or XA.
    pub branch_type: BranchType,
    /// The resource (for TCC: the Participant object driven in phase two).
    pub resource_id: String,
    /// The registering client.
    pub client_id: String,
    /// AT lock keys (`table:pk,...;...`).
    pub lock_keys: String,
    /// Opaque data handed back to the participant in phase two.
    pub application_data: String,
    /// Where the branch is.
    pub status: BranchStatus,
}

/// One global transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSession {
    /// Its id.
    pub xid: String,
    /// Application that began it.
    pub application_id: String,
    /// The principal that began it (`""`: an anonymous caller); see [`crate::access`].
    pub owner: String,
    /// Transaction name.
    pub transaction_name: String,
    /// Where it is.
    pub status: GlobalStatus,
    /// Whether branches may still register (closed once commit or rollback starts).
    pub active: bool,
    /// When it began (monotonic).
    pub began: Instant,
    /// When it began, in milliseconds since the Unix epoch (kept across restarts).
    pub begin_time_ms: i64,
    /// How long it may stay undecided.
    pub timeout: Duration,
    /// Branches in registration order.
    pub branches: Vec<BranchSession>,
}

impl GlobalSession {
    /// Whether it is still undecided past its timeout at `now`.
    pub fn is_timed_out(&self, now: Instant) -> bool {
        self.status == GlobalStatus::Begin && now.duration_since(self.began) > self.timeout
    }

    /// The branch `branch_id`.
    pub fn branch(&self, branch_id: i64) -> Option<&BranchSession> {
        self.branches.iter().find(|b| b.branch_id == branch_id)
    }

    /// Whether every branch is AT (committed asynchronously: only undo logs to delete).
    pub fn all_at(&self) -> bool {
        self.branches
            .iter()
            .all(|b| b.branch_type == BranchType::AT)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
