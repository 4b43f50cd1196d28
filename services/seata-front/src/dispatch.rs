//! One Seata transaction request → one coordinator call ([`Backend`]) → one Seata response.
//!
//! [`dispatch`] makes the call and returns the future of the Seata answer; the listener
//! thread polls it (woken through its mio waker), so nothing blocks and no other thread is
//! involved in building the answer.
//!
//! A failed call (transport error, timeout, no endpoint) becomes a `Failed` response with
//! exception code `IO` (the outcome is unknown to the client, which retries or asks the
//! status); a server-side or decoding failure gets the operation's own failure code
//! (`BeginFailed`, `BranchRegisterFailed`, `BranchReportFailed`, `LockableCheckFailed`,
//! `Unknown` for commit / rollback / status / report).

use std::future::Future;
use std::pin::Pin;

use futures::FutureExt;
use tars::client::CallError;
use tars::TarsString;
use tars_protocols::tarstx::{self as tx, TxResult};
use tars_seata::message::{
    BranchRegisterResponse, GlobalBeginResponse, GlobalEndResponse, GlobalLockQueryResponse,
    MergeResultMessage, TransactionResponse,
};
use tars_seata::{GlobalStatus, Message, ResultCode, TransactionExceptionCode};

use crate::backend::Backend;
use crate::codes::{
    branch_status_to_tars, branch_type_to_tars, exception_from_tars, status_from_tars,
    status_to_tars,
};

/// Who sent a request: what the calls need from the connection's registration.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The application id of the registration (sent with `begin`).
    pub(crate) application_id: String,
    /// `<applicationId>:<peer ip:port>` (sent with `branchRegister`).
    pub(crate) client_id: String,
}

/// The Seata answer to a request, once the coordinator has answered.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Message> + Send + 'static>>;

fn ready(msg: Message) -> Answer {
    Box::pin(futures::future::ready(msg))
}

/// Whether `msg` is a request this front end answers through the coordinator.
pub(crate) fn is_transaction_request(msg: &Message) -> bool {
    matches!(
        msg,
        Message::GlobalBeginRequest(_)
            | Message::GlobalCommitRequest(_)
            | Message::GlobalRollbackRequest(_)
            | Message::GlobalStatusRequest(_)
            | Message::GlobalReportRequest(_)
            | Message::BranchRegisterRequest(_)
            | Message::BranchReportRequest(_)
            | Message::GlobalLockQueryRequest(_)
    )
}

/// Whether every message of a merged request can be dispatched (no registration, no
/// response, no nested batch inside).
pub(crate) fn is_dispatchable(msg: &Message) -> bool {
    match msg {
        Message::MergedWarpMessage(m) => m.msgs.iter().all(is_transaction_request),
        other => is_transaction_request(other),
    }
}

fn failed(code: TransactionExceptionCode, msg: impl Into<String>) -> TransactionResponse {
    TransactionResponse::failed(code, msg)
}

/// The Seata result of the coordinator's.
pub(crate) fn result_from_tars(result: &TxResult) -> TransactionResponse {
    if result.code == tx::ResultCode::Success {
        TransactionResponse::success()
    } else {
        TransactionResponse {
            result_code: ResultCode::Failed,
            msg: result.message.to_string(),
            exception_code: exception_from_tars(result.error),
        }
    }
}

/// The Seata result of a call that failed; `op_code` is the operation's failure code for a
/// failure that is not about reaching the coordinator.
pub(crate) fn result_from_call_error(
    op: &str,
    op_code: TransactionExceptionCode,
    error: &CallError,
) -> TransactionResponse {
    let code = match error {
        CallError::Timeout(_) | CallError::Transport(_) | CallError::NoEndpoint { .. } => {
            TransactionExceptionCode::Io
        }
        CallError::Server { .. } | CallError::Decode(_) => op_code,
    };
    failed(code, format!("coordinator {op} failed: {error}"))
}

/// The response to a GlobalBegin from the `begin` reply.
pub(crate) fn begin_response(reply: Result<(TxResult, TarsString), CallError>) -> Message {
    let (result, xid) = match reply {
        Ok((r, xid)) => (result_from_tars(&r), xid.to_string()),
        Err(e) => (
            result_from_call_error("begin", TransactionExceptionCode::BeginFailed, &e),
            String::new(),
        ),
    };
    Message::GlobalBeginResponse(GlobalBeginResponse {
        result,
        xid,
        extra_data: String::new(),
    })
}

/// A GlobalEndResponse (commit, rollback, status, report) from a `(TxResult, GlobalStatus)`
/// reply; `wrap` picks the message type.
pub(crate) fn end_response(
    op: &str,
    reply: Result<(TxResult, tx::GlobalStatus), CallError>,
    wrap: fn(GlobalEndResponse) -> Message,
) -> Message {
    let (result, global_status) = match reply {
        Ok((r, status)) => (result_from_tars(&r), status_from_tars(status)),
        Err(e) => (
            result_from_call_error(op, TransactionExceptionCode::Unknown, &e),
            GlobalStatus::UnKnown,
        ),
    };
    wrap(GlobalEndResponse {
        result,
        global_status,
    })
}

/// The response to a BranchRegister.
pub(crate) fn branch_register_response(reply: Result<(TxResult, i64), CallError>) -> Message {
    let (result, branch_id) = match reply {
        Ok((r, id)) => (result_from_tars(&r), id),
        Err(e) => (
            result_from_call_error(
                "branchRegister",
                TransactionExceptionCode::BranchRegisterFailed,
                &e,
            ),
            0,
        ),
    };
    Message::BranchRegisterResponse(BranchRegisterResponse { result, branch_id })
}

/// The response to a BranchReport.
pub(crate) fn branch_report_response(reply: Result<TxResult, CallError>) -> Message {
    Message::BranchReportResponse(match reply {
        Ok(r) => result_from_tars(&r),
        Err(e) => result_from_call_error(
            "branchReport",
            TransactionExceptionCode::BranchReportFailed,
            &e,
        ),
    })
}

/// The response to a GlobalLockQuery.
pub(crate) fn lock_query_response(reply: Result<(TxResult, bool), CallError>) -> Message {
    let (result, lockable) = match reply {
        Ok((r, lockable)) => (result_from_tars(&r), lockable),
        Err(e) => (
            result_from_call_error(
                "lockQuery",
                TransactionExceptionCode::LockableCheckFailed,
                &e,
            ),
            false,
        ),
    };
    Message::GlobalLockQueryResponse(GlobalLockQueryResponse { result, lockable })
}

/// Sends `request` to the coordinator and returns the future of its Seata answer (ready at
/// once when the request is refused without a call). `request` must satisfy
/// [`is_dispatchable`]; anything else is returned as `Err` (the caller closes).
pub(crate) fn dispatch(
    coordinator: &dyn Backend,
    caller: &Caller,
    request: Message,
) -> Result<Answer, Message> {
    Ok(match request {
        Message::GlobalBeginRequest(r) => coordinator
            .begin(&caller.application_id, &r.transaction_name, r.timeout)
            .map(begin_response)
            .boxed(),
        Message::GlobalCommitRequest(r) => coordinator
            .commit(&r.xid)
            .map(|reply| end_response("commit", reply, Message::GlobalCommitResponse))
            .boxed(),
        Message::GlobalRollbackRequest(r) => coordinator
            .rollback(&r.xid)
            .map(|reply| end_response("rollback", reply, Message::GlobalRollbackResponse))
            .boxed(),
        Message::GlobalStatusRequest(r) => coordinator
            .get_status(&r.xid)
            .map(|reply| end_response("getStatus", reply, Message::GlobalStatusResponse))
            .boxed(),
        Message::GlobalReportRequest(r) => {
            let Some(status) = r.global_status.and_then(status_to_tars) else {
                return Ok(ready(Message::GlobalReportResponse(GlobalEndResponse {
                    result: failed(
                        TransactionExceptionCode::GlobalTransactionStatusInvalid,
                        format!(
                            "global report without a valid status: {:?}",
                            r.global_status
                        ),
                    ),
                    global_status: GlobalStatus::UnKnown,
                })));
            };
            coordinator
                .global_report(&r.xid, status)
                .map(|reply| end_response("globalReport", reply, Message::GlobalReportResponse))
                .boxed()
        }
        Message::BranchRegisterRequest(r) => {
            let Some(branch_type) = branch_type_to_tars(r.branch_type) else {
                return Ok(ready(Message::BranchRegisterResponse(
                    BranchRegisterResponse {
                        result: failed(
                            TransactionExceptionCode::BranchRegisterFailed,
                            format!("unknown branch type {}", r.branch_type.code()),
                        ),
                        branch_id: 0,
                    },
                )));
            };
            coordinator
                .branch_register(
                    &r.xid,
                    branch_type,
                    &r.resource_id,
                    &caller.client_id,
                    &r.lock_key,
                    &r.application_data,
                )
                .map(branch_register_response)
                .boxed()
        }
        Message::BranchReportRequest(r) => {
            let Some(status) = branch_status_to_tars(r.status) else {
                return Ok(ready(Message::BranchReportResponse(failed(
                    TransactionExceptionCode::BranchReportFailed,
                    format!("branch status {} is not supported", r.status.code()),
                ))));
            };
            coordinator
                .branch_report(&r.xid, r.branch_id, status, &r.application_data)
                .map(branch_report_response)
                .boxed()
        }
        Message::GlobalLockQueryRequest(r) => {
            let Some(branch_type) = branch_type_to_tars(r.branch_type) else {
                return Ok(ready(Message::GlobalLockQueryResponse(
                    GlobalLockQueryResponse {
                        result: failed(
                            TransactionExceptionCode::LockableCheckFailed,
                            format!("unknown branch type {}", r.branch_type.code()),
                        ),
                        lockable: false,
                    },
                )));
            };
            coordinator
                .lock_query(&r.xid, branch_type, &r.resource_id, &r.lock_key)
                .map(lock_query_response)
                .boxed()
        }
        Message::MergedWarpMessage(merged) => {
            if !merged.msgs.iter().all(is_transaction_request) {
                return Err(Message::MergedWarpMessage(merged));
            }
            // Every sub-request at once; one MergeResultMessage with the results in request
            // order once the last one is in.
            let answers = merged
                .msgs
                .into_iter()
                .map(|msg| dispatch(coordinator, caller, msg))
                .collect::<Result<Vec<_>, _>>()?;
            futures::future::join_all(answers)
                .map(|msgs| Message::MergeResultMessage(MergeResultMessage { msgs }))
                .boxed()
        }
        other => return Err(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_errors_become_failed_responses() {
        let Message::GlobalCommitResponse(r) = end_response(
            "commit",
            Err(CallError::Timeout(3000)),
            Message::GlobalCommitResponse,
        ) else {
            panic!("wrong type")
        };
        assert_eq!(r.result.result_code, ResultCode::Failed);
        assert_eq!(r.result.exception_code, TransactionExceptionCode::Io);
        assert!(r.result.msg.contains("commit"), "{}", r.result.msg);
        let Message::BranchRegisterResponse(r) = branch_register_response(Err(CallError::Server {
            code: -1,
            desc: "boom".into(),
        })) else {
            panic!("wrong type")
        };
        assert_eq!(
            r.result.exception_code,
            TransactionExceptionCode::BranchRegisterFailed
        );
    }

    #[test]
    fn coordinator_results_map_one_to_one() {
        let r = result_from_tars(&TxResult {
            code: tx::ResultCode::Failed,
            error: tx::TransactionExceptionCode::LockKeyConflict,
            message: "held".into(),
        });
        assert_eq!(
            r,
            TransactionResponse::failed(TransactionExceptionCode::LockKeyConflict, "held")
        );
        let ok = result_from_tars(&TxResult {
            code: tx::ResultCode::Success,
            ..TxResult::default()
        });
        assert_eq!(ok, TransactionResponse::success());
    }
}
