//! How sessions are written down: Tars-encoded records (the framework's own codec), one per
//! open global transaction, keyed by XID.

use std::time::{Duration, Instant};

use tars::codec::{TarsStruct, TarsValue, Writer};
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
    #[tars(tag = 8)]
    owner: String,
}

/// Writes optional field `tag` as the derived encoder of [`StoredSession`] does (skipped when
/// [`TarsValue::skip_optional`] says so).
fn write_optional<T: TarsValue>(w: &mut Writer, tag: u8, value: &T) {
    if !value.skip_optional(None) {
        value.write_field(w, tag);
    }
}

/// The record of `session` on its own (what [`write`] appends).
#[cfg(test)]
fn encode(session: &GlobalSession) -> Vec<u8> {
    let mut w = Writer::new();
    write(session, &mut w);
    Vec::from(w.into_inner())
}

/// Appends the record of `session` to `w`: the encoding of its `StoredSession`, written
/// straight from the session (no copy of its strings; this runs for every session change).
pub fn write(session: &GlobalSession, w: &mut Writer) {
    session.xid.write_field(w, 0);
    write_optional(w, 1, &session.application_id);
    write_optional(w, 2, &session.transaction_name);
    session.status.write_field(w, 3);
    session.active.write_field(w, 4);
    session.begin_time_ms.write_field(w, 5);
    i64::try_from(session.timeout.as_millis())
        .unwrap_or(i64::MAX)
        .write_field(w, 6);
    // Tag 7 is optional: an empty list is left out, like `Vec::skip_optional`.
    if !session.branches.is_empty() {
        w.write_list_header(7, session.branches.len());
        for b in &session.branches {
            w.write_struct_begin(0);
            b.branch_id.write_field(w, 0);
            b.branch_type.write_field(w, 1);
            b.resource_id.write_field(w, 2);
            write_optional(w, 3, &b.client_id);
            write_optional(w, 4, &b.lock_keys);
            write_optional(w, 5, &b.application_data);
            b.status.write_field(w, 6);
            w.write_struct_end();
        }
    }
    write_optional(w, 8, &session.owner);
}

/// The record of `session` through the derived encoder of [`StoredSession`] (copies every
/// string first): the reference [`encode`] must match.
#[cfg(test)]
fn encode_derived(session: &GlobalSession) -> Vec<u8> {
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
        owner: session.owner.clone(),
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
        owner: s.owner,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(branches: usize, strings: &str) -> GlobalSession {
        GlobalSession {
            xid: "7:3:42".into(),
            application_id: strings.into(),
            owner: strings.into(),
            transaction_name: strings.into(),
            status: GlobalStatus::Committing,
            active: false,
            began: Instant::now(),
            begin_time_ms: 1_800_000_000_123,
            timeout: Duration::from_millis(60_000),
            branches: (0..branches)
                .map(|i| BranchSession {
                    branch_id: (1 << 32) + i as i64,
                    branch_type: if i % 2 == 0 {
                        BranchType::AT
                    } else {
                        BranchType::TCC
                    },
                    resource_id: format!("Rm{i}.ParticipantObj@tcp -h 127.0.0.1 -p 1 -t 3000"),
                    client_id: strings.into(),
                    lock_keys: if i % 2 == 0 {
                        format!("t:{i}")
                    } else {
                        String::new()
                    },
                    application_data: strings.into(),
                    status: BranchStatus::PhaseTwo_CommitFailed_Retryable,
                })
                .collect(),
        }
    }

    #[test]
    fn direct_encoding_is_the_derived_one() {
        for branches in [0, 1, 2, 5] {
            for strings in ["", "app data"] {
                let s = session(branches, strings);
                let bytes = encode(&s);
                assert_eq!(
                    bytes,
                    encode_derived(&s),
                    "{branches} branches, {strings:?}"
                );
                let back = decode(&bytes, Instant::now()).expect("decodes");
                assert_eq!(back.branches, s.branches);
                assert_eq!(back.xid, s.xid);
                assert_eq!(back.timeout, s.timeout);
            }
        }
    }
}
