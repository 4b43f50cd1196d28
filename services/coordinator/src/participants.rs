//! Reaching the participants of phase two: a branch's `resourceId` names the `Participant`
//! object of its resource manager. A bare object name is resolved through the communicator's
//! locator (the registry); a full proxy string (`Obj@tcp -h .. -p ..`) is used as it is.
//! Proxies are made once per resource and reused.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tars::client::{CallError, Communicator};
use tars_protocols::tarstx::{BranchStatus, ParticipantProxy};

use crate::core::{Direction, Step};

/// The participants' proxies.
pub struct Participants {
    communicator: Communicator,
    timeout: Duration,
    proxies: Mutex<HashMap<String, ParticipantProxy>>,
}

impl std::fmt::Debug for Participants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participants")
            .field("timeout", &self.timeout)
            .field("resources", &self.proxies.lock().len())
            .finish_non_exhaustive()
    }
}

/// Why a participant could not be called.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    /// The resource id does not resolve to a proxy.
    #[error("cannot reach participant {resource}: {reason}")]
    Unreachable {
        /// The branch's resource id.
        resource: String,
        /// Why.
        reason: String,
    },
    /// The call failed (timeout, connection, server error).
    #[error("participant {resource}: {source}")]
    Call {
        /// The branch's resource id.
        resource: String,
        /// The call error.
        source: CallError,
    },
}

impl Participants {
    /// Participants reached through `communicator`; each call times out after `timeout`.
    pub fn new(communicator: Communicator, timeout: Duration) -> Participants {
        Participants {
            communicator,
            timeout,
            proxies: Mutex::new(HashMap::new()),
        }
    }

    fn proxy(&self, resource: &str) -> Result<ParticipantProxy, ParticipantError> {
        if let Some(p) = self.proxies.lock().get(resource) {
            return Ok(p.clone());
        }
        // Resolving may ask the registry: do it outside the lock.
        let proxy = self.communicator.string_to_proxy(resource).map_err(|e| {
            ParticipantError::Unreachable {
                resource: resource.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let typed = ParticipantProxy::new(proxy).with_timeout(self.timeout);
        Ok(self
            .proxies
            .lock()
            .entry(resource.to_owned())
            .or_insert(typed)
            .clone())
    }

    /// Makes the phase-two call of `step` and returns the participant's answer.
    pub async fn call(&self, step: &Step) -> Result<BranchStatus, ParticipantError> {
        let b = &step.branch;
        let proxy = self
            .proxy(&b.resource_id)?
            .with_context(tars::client::XID_CONTEXT_KEY, step.xid.as_str());
        let answer = match step.direction {
            Direction::Commit => {
                proxy
                    .branch_commit_async(
                        &step.xid,
                        b.branch_id,
                        b.branch_type,
                        &b.resource_id,
                        &b.application_data,
                    )
                    .await
            }
            Direction::Rollback => {
                proxy
                    .branch_rollback_async(
                        &step.xid,
                        b.branch_id,
                        b.branch_type,
                        &b.resource_id,
                        &b.application_data,
                    )
                    .await
            }
        };
        if matches!(answer, Err(CallError::NoEndpoint { .. })) {
            // Resolved before the participant was (re)registered or heartbeating (as right
            // after a restart): resolve it again next time instead of waiting for a refresh.
            self.proxies.lock().remove(&b.resource_id);
        }
        answer.map_err(|source| ParticipantError::Call {
            resource: b.resource_id.clone(),
            source,
        })
    }
}
