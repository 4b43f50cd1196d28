//! Code mapping between the coordinator's Tars enums and Seata's wire enums, and the
//! version-dependent downgrade for old clients.
//!
//! Clients registered with a version below 1.5 (seata-python sends "1.0") only know
//! `TransactionExceptionCode` 0..=18 and `GlobalStatus` 0..=15: their decoders fail on
//! anything newer. Every response to such a client goes through [`downgrade`], which replaces
//! the newer codes using the tables [`OLD_CLIENT_EXCEPTION_CODES`] and
//! [`OLD_CLIENT_GLOBAL_STATUS`] (codes in neither table and outside the old range become
//! `Unknown` / `UnKnown`).

use tars::codec::TarsEnum;
use tars_protocols::tarstx as tx;
use tars_seata::message::{MergeResultMessage, TransactionResponse};
use tars_seata::{BranchStatus, BranchType, GlobalStatus, Message, TransactionExceptionCode};

/// The first client version that knows the newer codes (`TransactionExceptionCode` 19..=23,
/// `GlobalStatus` 16..=17, batch results).
pub const NEW_CODES_SINCE: (u32, u32) = (1, 5);

/// Exception codes an old client does not know, each with the closest code it does:
///
/// | new | old | why |
/// |---|---|---|
/// | 19 NotRaftLeader | 18 FailedStore | this server could not record the request; retrying may succeed |
/// | 20 LockKeyConflictFailFast | 2 LockKeyConflict | the same conflict, without the "fail fast" hint |
/// | 21 TransactionTimeout | 11 GlobalTransactionNotActive | a timed-out transaction no longer accepts work |
/// | 22 CommitHeuristic | 12 GlobalTransactionStatusInvalid | the transaction ended in a state the request cannot act on |
/// | 23 Broken | 0 Unknown | no older code names a broken transaction |
pub const OLD_CLIENT_EXCEPTION_CODES: [(TransactionExceptionCode, TransactionExceptionCode); 5] = [
    (
        TransactionExceptionCode::NotRaftLeader,
        TransactionExceptionCode::FailedStore,
    ),
    (
        TransactionExceptionCode::LockKeyConflictFailFast,
        TransactionExceptionCode::LockKeyConflict,
    ),
    (
        TransactionExceptionCode::TransactionTimeout,
        TransactionExceptionCode::GlobalTransactionNotActive,
    ),
    (
        TransactionExceptionCode::CommitHeuristic,
        TransactionExceptionCode::GlobalTransactionStatusInvalid,
    ),
    (
        TransactionExceptionCode::Broken,
        TransactionExceptionCode::Unknown,
    ),
];

/// Global statuses an old client does not know, each with the closest one it does:
///
/// | new | old | why |
/// |---|---|---|
/// | 16 CommitRetryTimeout | 10 CommitFailed | commit retries gave up |
/// | 17 RollbackRetryTimeout | 12 RollbackFailed | rollback retries gave up |
pub const OLD_CLIENT_GLOBAL_STATUS: [(GlobalStatus, GlobalStatus); 2] = [
    (GlobalStatus::CommitRetryTimeout, GlobalStatus::CommitFailed),
    (
        GlobalStatus::RollbackRetryTimeout,
        GlobalStatus::RollbackFailed,
    ),
];

/// Whether a client registered with `version` ("major.minor[.patch...]") is older than
/// [`NEW_CODES_SINCE`]. An unparseable version counts as old: the safe side.
pub fn is_old_client(version: &str) -> bool {
    let mut parts = version.trim().split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let p = p?;
        let digits: &str = p
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or_default();
        if digits.is_empty() {
            None
        } else {
            digits.parse().ok()
        }
    };
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => (major, minor) < NEW_CODES_SINCE,
        _ => true,
    }
}

/// The exception code an old client may receive in place of `code`.
pub fn old_exception_code(code: TransactionExceptionCode) -> TransactionExceptionCode {
    if let Some((_, old)) = OLD_CLIENT_EXCEPTION_CODES
        .iter()
        .find(|(new, _)| *new == code)
    {
        return *old;
    }
    if (0..=18).contains(&code.code()) {
        code
    } else {
        TransactionExceptionCode::Unknown
    }
}

/// The global status an old client may receive in place of `status`.
pub fn old_global_status(status: GlobalStatus) -> GlobalStatus {
    if let Some((_, old)) = OLD_CLIENT_GLOBAL_STATUS
        .iter()
        .find(|(new, _)| *new == status)
    {
        return *old;
    }
    if (0..=15).contains(&status.code()) {
        status
    } else {
        GlobalStatus::UnKnown
    }
}

fn downgrade_result(result: &mut TransactionResponse) {
    result.exception_code = old_exception_code(result.exception_code);
}

/// Rewrites a response for an old client: newer exception codes and global statuses are
/// replaced (recursively inside a merge result).
pub fn downgrade(msg: &mut Message) {
    match msg {
        Message::GlobalBeginResponse(r) => downgrade_result(&mut r.result),
        Message::GlobalCommitResponse(r)
        | Message::GlobalRollbackResponse(r)
        | Message::GlobalStatusResponse(r)
        | Message::GlobalReportResponse(r) => {
            downgrade_result(&mut r.result);
            r.global_status = old_global_status(r.global_status);
        }
        Message::BranchRegisterResponse(r) => downgrade_result(&mut r.result),
        Message::BranchReportResponse(r) => downgrade_result(r),
        Message::GlobalLockQueryResponse(r) => downgrade_result(&mut r.result),
        Message::BranchCommitResponse(r) | Message::BranchRollbackResponse(r) => {
            downgrade_result(&mut r.result)
        }
        Message::MergeResultMessage(MergeResultMessage { msgs }) => {
            msgs.iter_mut().for_each(downgrade)
        }
        _ => {}
    }
}

/// The Seata exception code of the coordinator's.
pub fn exception_from_tars(code: tx::TransactionExceptionCode) -> TransactionExceptionCode {
    TransactionExceptionCode::from_code(i8::try_from(code.to_i32()).unwrap_or(0))
}

/// The Seata global status of the coordinator's.
pub fn status_from_tars(status: tx::GlobalStatus) -> GlobalStatus {
    GlobalStatus::from_code(i8::try_from(status.to_i32()).unwrap_or(0))
}

/// The coordinator's global status for a Seata one (`None`: the coordinator has no such value).
pub fn status_to_tars(status: GlobalStatus) -> Option<tx::GlobalStatus> {
    match tx::GlobalStatus::from_i32(i32::from(status.code()))? {
        tx::GlobalStatus::Unrecognized(_) => None,
        known => Some(known),
    }
}

/// The coordinator's branch type for a Seata one (`None`: unknown type).
pub fn branch_type_to_tars(branch_type: BranchType) -> Option<tx::BranchType> {
    match branch_type {
        BranchType::Other(_) => None,
        known => match tx::BranchType::from_i32(i32::from(known.code()))? {
            tx::BranchType::Unrecognized(_) => None,
            known => Some(known),
        },
    }
}

/// The Seata branch type of the coordinator's.
pub fn branch_type_from_tars(branch_type: tx::BranchType) -> BranchType {
    BranchType::from_code(i8::try_from(branch_type.to_i32()).unwrap_or(i8::MIN))
}

/// The coordinator's branch status for a Seata one (`None`: the coordinator has no such
/// value, e.g. XA's PhaseOne_RDONLY).
pub fn branch_status_to_tars(status: BranchStatus) -> Option<tx::BranchStatus> {
    match status {
        BranchStatus::Other(_) => None,
        known => match tx::BranchStatus::from_i32(i32::from(known.code()))? {
            tx::BranchStatus::Unrecognized(_) => None,
            known => Some(known),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars_seata::message::{GlobalEndResponse, MergeResultMessage};

    #[test]
    fn versions_below_1_5_and_garbage_are_old() {
        for old in ["1.0", "1.4.2", "0.9", "1", "", "v2.0", "abc", "1.x"] {
            assert!(is_old_client(old), "{old:?}");
        }
        for new in ["1.5", "1.5.0", "1.8.0", "2.0.0", "2.2.0-SNAPSHOT", " 10.1 "] {
            assert!(!is_old_client(new), "{new:?}");
        }
    }

    #[test]
    fn every_new_exception_code_maps_to_an_old_one() {
        for code in TransactionExceptionCode::KNOWN {
            let old = old_exception_code(*code);
            assert!((0..=18).contains(&old.code()), "{code:?} -> {old:?}");
            if code.code() <= 18 {
                assert_eq!(old, *code, "old codes are kept");
            }
        }
        assert_eq!(
            old_exception_code(TransactionExceptionCode::NotRaftLeader),
            TransactionExceptionCode::FailedStore
        );
        assert_eq!(
            old_exception_code(TransactionExceptionCode::LockKeyConflictFailFast),
            TransactionExceptionCode::LockKeyConflict
        );
        assert_eq!(
            old_exception_code(TransactionExceptionCode::TransactionTimeout),
            TransactionExceptionCode::GlobalTransactionNotActive
        );
        assert_eq!(
            old_exception_code(TransactionExceptionCode::CommitHeuristic),
            TransactionExceptionCode::GlobalTransactionStatusInvalid
        );
        assert_eq!(
            old_exception_code(TransactionExceptionCode::Broken),
            TransactionExceptionCode::Unknown
        );
        assert_eq!(
            old_exception_code(TransactionExceptionCode::Other(99)),
            TransactionExceptionCode::Unknown
        );
    }

    #[test]
    fn every_new_global_status_maps_to_an_old_one() {
        for status in GlobalStatus::KNOWN {
            let old = old_global_status(*status);
            assert!((0..=15).contains(&old.code()), "{status:?} -> {old:?}");
            if status.code() <= 15 {
                assert_eq!(old, *status);
            }
        }
        assert_eq!(
            old_global_status(GlobalStatus::CommitRetryTimeout),
            GlobalStatus::CommitFailed
        );
        assert_eq!(
            old_global_status(GlobalStatus::RollbackRetryTimeout),
            GlobalStatus::RollbackFailed
        );
    }

    #[test]
    fn downgrade_reaches_into_merge_results() {
        let end = |code, status| {
            Message::GlobalCommitResponse(GlobalEndResponse {
                result: TransactionResponse::failed(code, "x"),
                global_status: status,
            })
        };
        let mut msg = Message::MergeResultMessage(MergeResultMessage {
            msgs: vec![
                end(
                    TransactionExceptionCode::NotRaftLeader,
                    GlobalStatus::CommitRetryTimeout,
                ),
                end(TransactionExceptionCode::Io, GlobalStatus::Committed),
            ],
        });
        downgrade(&mut msg);
        assert_eq!(
            msg,
            Message::MergeResultMessage(MergeResultMessage {
                msgs: vec![
                    end(
                        TransactionExceptionCode::FailedStore,
                        GlobalStatus::CommitFailed
                    ),
                    end(TransactionExceptionCode::Io, GlobalStatus::Committed),
                ],
            })
        );
    }

    #[test]
    fn tars_and_seata_codes_agree() {
        assert_eq!(
            exception_from_tars(tx::TransactionExceptionCode::LockKeyConflictFailFast),
            TransactionExceptionCode::LockKeyConflictFailFast
        );
        assert_eq!(
            status_from_tars(tx::GlobalStatus::RollbackRetryTimeout),
            GlobalStatus::RollbackRetryTimeout
        );
        assert_eq!(
            status_to_tars(GlobalStatus::Committed),
            Some(tx::GlobalStatus::Committed)
        );
        assert_eq!(
            branch_type_to_tars(BranchType::Xa),
            Some(tx::BranchType::XA)
        );
        assert_eq!(branch_type_to_tars(BranchType::Other(9)), None);
        assert_eq!(
            branch_status_to_tars(BranchStatus::PhaseOneFailed),
            Some(tx::BranchStatus::PhaseOne_Failed)
        );
        assert_eq!(branch_status_to_tars(BranchStatus::PhaseOneRdonly), None);
        assert_eq!(status_to_tars(GlobalStatus::Other(40)), None);
    }
}
