//! How sessions are written down: Tars-encoded records (the framework's own codec), one per
//! open global transaction, keyed by XID.

use std::time::{Duration, Instant};

use tars::codec::TarsStruct;
use tars::TarsStruct as DeriveTarsStruct;
use tars_protocols::tarstx::{BranchStatus, BranchType, GlobalStatus};

use crate::session::{wall_clock_ms, BranchSession, GlobalSession};

/// A stored branch.
#[derive(Debug, Clone, PartialEq, Default, DeriveTarsStruct)]
#[tars(class = "tarstx.StoredBranch")]
pub struct StoredBranch {
    #[tars(tag = 0, require)]
    branch_id: i64,
    #[tars(tag = 1, require)]
    branch_type: BranchType,
    #[tars(tag = 2, require)]
    resource_id: String,
    #[tars(tag = 3)]
    client_id: String,
    #[tars(tag = 4)]
    lock_keys: String,
    #[tars(tag = 5)]
    application_data: String,
    #[tars(tag = 6, require)]
    status: BranchStatus,
}

/// A stored global transaction.
#[derive(Debug, Clone, PartialEq, Default, DeriveTarsStruct)]
#[tars(class = "tarstx.StoredSession")]
pub struct StoredSession {
    #[tars(tag = 0, require)]
    xid: String,
    #[tars(tag = 1)]
    application_id: String,
    #[tars(tag = 2)]
    transaction_name: String,
    #[tars(tag = 3, require)]
    status: GlobalStatus,
    #[tars(tag = 4, require)]
    active: bool,
    #[tars(tag = 5, require)]
    begin_time_ms: i64,
    #[tars(tag = 6, require)]
    timeout_ms: i64,
    #[tars(tag = 7)]
    branches: Vec<StoredBranch>,
}

/// The record of `session`.
pub fn encode(session: &GlobalSession) -> Vec<u8> {
    let stored = StoredSession {
        xid: session.xid.clone(),
        application_id: session.application_id.clone(),
        transaction_name: session.transaction_name.clone(),
        status: session.status,
        active: session.active,
        begin_time_ms: session.begin_time_ms,
        timeout_ms: i64::try_from(session.timeout.as_millis()).unwrap_or(i64::MAX),
        branches: session
            .branches
            .iter()
            .map(|b| StoredBranch {
                branch_id: b.branch_id,
                branch_type: b.branch_type,
                resource_id: b.resource_id.clone(),
                client_id: b.client_id.clone(),
                lock_keys: b.lock_keys.clone(),
                application_data: b.application_data.clone(),
                status: b.status,
            })
            .collect(),
    };
    stored.encode_to_bytes().to_vec()
}

/// The session of a record. Its monotonic start is placed as far before `now` as its wall-clock
/// age says, so timeouts keep counting across a restart.
pub fn decode(bytes: &[u8], now: Instant) -> Result<GlobalSession, tars::DecodeError> {
    let s = StoredSession::decode_from(bytes)?;
    let age = Duration::from_millis(u64::try_from(wall_clock_ms() - s.begin_time_ms).unwrap_or(0));
    Ok(GlobalSession {
        xid: s.xid,
        application_id: s.application_id,
        transaction_name: s.transaction_name,
        status: s.status,
        active: s.active,
        began: now.checked_sub(age).unwrap_or(now),
        begin_time_ms: s.begin_time_ms,
        timeout: Duration::from_millis(u64::try_from(s.timeout_ms).unwrap_or(0)),
        branches: s
            .branches
            .into_iter()
            .map(|b| BranchSession {
                branch_id: b.branch_id,
                branch_type: b.branch_type,
                resource_id: b.resource_id,
                client_id: b.client_id,
                lock_keys: b.lock_keys,
                application_data: b.application_data,
                status: b.status,
            })
            .collect(),
    })
}
