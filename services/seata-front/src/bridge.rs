//! The phase-two bridge: a `tarstx::Participant` servant ([`SEATA_RM_OBJ`]) that forwards the
//! coordinator's `branchCommit` / `branchRollback` of a Seata branch to an RM connected to
//! this front end, as a Seata BranchCommit / BranchRollback request, and answers with the
//! status the RM reports.
//!
//! The coordinator finds the bridge through the branch's client id
//! ([`SeataRoute`](tars_protocols::seata_route::SeataRoute)) and sends the Java client id of
//! the RM that registered the branch in the call context. The bridge picks the connection as
//! the Java TC does ([`RmRegistry::pick`]): that RM's own connection, else another
//! connection of the same application holding the resource. With none, the call fails with
//! [`NO_RM_CONNECTION`] and the coordinator retries the branch on its schedule, until an RM of
//! that application and resource registers again.
//!
//! The answer never blocks a server thread: the call is deferred and answered when the RM's
//! response comes (or its connection closes, or the deadline passes: the Tars call's own
//! timeout less a margin, so the coordinator hears "retry" before it gives up waiting).
//!
//! The RM's answer maps as Java reads it: a successful response carries the branch status
//! (PhaseTwo_Committed / _Rollbacked, or a retryable / unretryable failure); a failed
//! response, no response or a status that is not a phase-two outcome is a retryable failure.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tars::server::{AdapterConfig, Current, ServantError};
use tars::TarsString;
use tars_protocols::seata_route::{NO_RM_CONNECTION, SEATA_CLIENT_ID_CONTEXT, SEATA_RM_OBJ};
use tars_protocols::tarstx::{self as tx, Participant, ParticipantResponder, ParticipantServant};
use tars_seata::message::BranchPhaseTwoRequest;
use tars_seata::{Message, ResultCode};

use crate::codes::{branch_status_to_tars, branch_type_from_tars};
use crate::registry::{RequestError, RmRegistry};

/// How long the bridge waits for an RM when the Tars call carries no timeout.
pub const DEFAULT_RM_TIMEOUT: Duration = Duration::from_secs(5);
/// How much sooner than the Tars call's timeout the bridge gives up on the RM.
const MARGIN: Duration = Duration::from_millis(200);

/// Commit or rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Commit,
    Rollback,
}

impl Direction {
    fn retryable(self) -> tx::BranchStatus {
        match self {
            Direction::Commit => tx::BranchStatus::PhaseTwo_CommitFailed_Retryable,
            Direction::Rollback => tx::BranchStatus::PhaseTwo_RollbackFailed_Retryable,
        }
    }

    fn outcomes(self) -> [tx::BranchStatus; 3] {
        match self {
            Direction::Commit => [
                tx::BranchStatus::PhaseTwo_Committed,
                tx::BranchStatus::PhaseTwo_CommitFailed_Retryable,
                tx::BranchStatus::PhaseTwo_CommitFailed_Unretryable,
            ],
            Direction::Rollback => [
                tx::BranchStatus::PhaseTwo_Rollbacked,
                tx::BranchStatus::PhaseTwo_RollbackFailed_Retryable,
                tx::BranchStatus::PhaseTwo_RollbackFailed_Unretryable,
            ],
        }
    }

    /// The branch status the coordinator records for the RM's answer.
    fn status_of(self, answer: &Result<Message, RequestError>) -> tx::BranchStatus {
        let response = match (self, answer) {
            (Direction::Commit, Ok(Message::BranchCommitResponse(r)))
            | (Direction::Rollback, Ok(Message::BranchRollbackResponse(r))) => r,
            _ => return self.retryable(),
        };
        if response.result.result_code != ResultCode::Success {
            // Java's RM answers Failed with the status it ended in (an unretryable failure
            // stays one).
            return match branch_status_to_tars(response.branch_status) {
                Some(s) if s == self.outcomes()[2] => s,
                _ => self.retryable(),
            };
        }
        match branch_status_to_tars(response.branch_status) {
            Some(s) if self.outcomes().contains(&s) => s,
            _ => self.retryable(),
        }
    }
}

/// The bridge servant (see the [module docs](self)). Cheap to clone; it serves "no RM" until
/// [`bind`](Self::bind) hands it the front end's registry, so it can be hosted before the
/// front end starts.
#[derive(Debug, Clone, Default)]
pub struct SeataBridge {
    registry: Arc<OnceLock<RmRegistry>>,
}

impl SeataBridge {
    /// A bridge not yet bound to a front end.
    pub fn new() -> SeataBridge {
        SeataBridge::default()
    }

    /// The object name to host it under.
    pub fn object_name() -> &'static str {
        SEATA_RM_OBJ
    }

    /// Binds the bridge to the RM connections of a started front end (the first binding
    /// stays).
    pub fn bind(&self, registry: RmRegistry) {
        let _ = self.registry.set(registry);
    }

    /// The servant to add to an adapter's servants under [`SEATA_RM_OBJ`].
    pub fn servant(&self) -> Arc<dyn tars::server::Dispatch> {
        Arc::new(ParticipantServant::new(self.clone()))
    }

    /// `adapter` serving the bridge as [`SEATA_RM_OBJ`] besides its own servants (tarsd
    /// hosts it on the coordinator's adapter).
    pub fn host_on(&self, mut adapter: AdapterConfig) -> AdapterConfig {
        let mut servants = (*adapter.servants).clone();
        servants.add(SEATA_RM_OBJ, self.servant());
        adapter.servants = Arc::new(servants);
        adapter
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        current: &mut Current,
        direction: Direction,
        xid: TarsString,
        branch_id: i64,
        branch_type: tx::BranchType,
        resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<tx::BranchStatus, ServantError> {
        let client_id = current
            .context()
            .get(SEATA_CLIENT_ID_CONTEXT)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let resource_id = resource_id.to_string();
        let conn = self
            .registry
            .get()
            .and_then(|registry| Some((registry, registry.pick(&resource_id, &client_id)?)));
        let Some((registry, conn)) = conn else {
            return Err(ServantError::new(
                NO_RM_CONNECTION,
                format!("no RM of {client_id:?} with resource {resource_id:?} is connected here"),
            ));
        };
        let request = BranchPhaseTwoRequest {
            xid: xid.to_string(),
            branch_id,
            branch_type: branch_type_from_tars(branch_type),
            resource_id,
            application_data: application_data.to_string(),
        };
        let request = match direction {
            Direction::Commit => Message::BranchCommitRequest(request),
            Direction::Rollback => Message::BranchRollbackRequest(request),
        };
        let timeout = u64::try_from(current.timeout_ms())
            .ok()
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_RM_TIMEOUT, |ms| {
                Duration::from_millis(ms).saturating_sub(MARGIN).max(MARGIN)
            });
        let Some(responder) = current.defer() else {
            // One-way: nobody waits for the outcome.
            registry.send_request_with(conn.conn, &request, timeout, Box::new(|_| {}));
            return Ok(direction.retryable());
        };
        registry.send_request_with(
            conn.conn,
            &request,
            timeout,
            Box::new(move |answer| {
                if let Err(e) = &answer {
                    tracing::debug!(error = %e, "RM did not answer phase two");
                }
                let status = direction.status_of(&answer);
                match direction {
                    Direction::Commit => ParticipantResponder::branch_commit(responder, &status),
                    Direction::Rollback => {
                        ParticipantResponder::branch_rollback(responder, &status)
                    }
                }
            }),
        );
        // Deferred: the responder answers.
        Ok(direction.retryable())
    }
}

impl Participant for SeataBridge {
    fn branch_commit(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        branch_type: tx::BranchType,
        resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<tx::BranchStatus, ServantError> {
        self.forward(
            current,
            Direction::Commit,
            xid,
            branch_id,
            branch_type,
            resource_id,
            application_data,
        )
    }

    fn branch_rollback(
        &self,
        current: &mut Current,
        xid: TarsString,
        branch_id: i64,
        branch_type: tx::BranchType,
        resource_id: TarsString,
        application_data: TarsString,
    ) -> Result<tx::BranchStatus, ServantError> {
        self.forward(
            current,
            Direction::Rollback,
            xid,
            branch_id,
            branch_type,
            resource_id,
            application_data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars_seata::message::{BranchPhaseTwoResponse, TransactionResponse};
    use tars_seata::{BranchStatus, TransactionExceptionCode};

    fn answer(result: TransactionResponse, status: BranchStatus) -> BranchPhaseTwoResponse {
        BranchPhaseTwoResponse {
            result,
            xid: "h:1:2".into(),
            branch_id: 3,
            branch_status: status,
        }
    }

    #[test]
    fn rm_answers_map_as_java_reads_them() {
        use tx::BranchStatus as T;
        let ok = TransactionResponse::success;
        let failed = || {
            TransactionResponse::failed(TransactionExceptionCode::BranchTransactionNotExist, "x")
        };
        let commit = |r| Direction::Commit.status_of(&Ok(Message::BranchCommitResponse(r)));
        let rollback = |r| Direction::Rollback.status_of(&Ok(Message::BranchRollbackResponse(r)));
        assert_eq!(
            commit(answer(ok(), BranchStatus::PhaseTwoCommitted)),
            T::PhaseTwo_Committed
        );
        assert_eq!(
            commit(answer(ok(), BranchStatus::PhaseTwoCommitFailedUnretryable)),
            T::PhaseTwo_CommitFailed_Unretryable
        );
        assert_eq!(
            commit(answer(
                failed(),
                BranchStatus::PhaseTwoCommitFailedUnretryable
            )),
            T::PhaseTwo_CommitFailed_Unretryable
        );
        // A failed answer claiming success, a rollback status to a commit, an unknown status.
        assert_eq!(
            commit(answer(failed(), BranchStatus::PhaseTwoCommitted)),
            T::PhaseTwo_CommitFailed_Retryable
        );
        assert_eq!(
            commit(answer(ok(), BranchStatus::PhaseTwoRollbacked)),
            T::PhaseTwo_CommitFailed_Retryable
        );
        assert_eq!(
            commit(answer(ok(), BranchStatus::Other(99))),
            T::PhaseTwo_CommitFailed_Retryable
        );
        assert_eq!(
            rollback(answer(ok(), BranchStatus::PhaseTwoRollbacked)),
            T::PhaseTwo_Rollbacked
        );
        // The wrong response type, and no response at all.
        assert_eq!(
            Direction::Rollback.status_of(&Ok(Message::BranchCommitResponse(answer(
                ok(),
                BranchStatus::PhaseTwoRollbacked
            )))),
            T::PhaseTwo_RollbackFailed_Retryable
        );
        assert_eq!(
            Direction::Commit.status_of(&Err(RequestError::Closed)),
            T::PhaseTwo_CommitFailed_Retryable
        );
    }
}
