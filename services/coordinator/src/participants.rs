//! Reaching the participants of phase two.
//!
//! - A Tars branch's `resourceId` names the `Participant` object of its resource manager. A
//!   bare object name is resolved through the communicator's locator (the registry); a full
//!   proxy string (`Obj@tcp -h .. -p ..`) is used as it is.
//! - A branch registered through a Seata front end has a [`SeataRoute`] as its client id: it
//!   is called on the phase-two bridge of the node its RM is connected to, with the RM's Java
//!   client id in the context (the bridge forwards it to the RM's connection). When that
//!   bridge cannot be reached or has no connection of the RM's application and resource, the
//!   call goes once more to a bridge resolved through the registry (every node with a Seata
//!   front end registers one; successive calls rotate over them), so an RM that reconnected
//!   to another node is found.
//!
//! Proxies are made once per resource (or bridge) and reused.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tars::client::{CallError, Communicator};
use tars_protocols::seata_route::{
    SeataRoute, NO_RM_CONNECTION, SEATA_CLIENT_ID_CONTEXT, SEATA_RM_OBJ,
};
use tars_protocols::tarstx::{BranchStatus, ParticipantProxy};

use crate::core::{Direction, Step};

/// The participants' proxies.
pub struct Participants {
    communicator: Communicator,
    timeout: Duration,
    bridge_transport: tars::endpoint::Transport,
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
            bridge_transport: Default::default(),
            proxies: Mutex::new(HashMap::new()),
        }
    }

    /// Reaches Seata bridges (on the nodes) over `transport` instead of plain TCP.
    pub fn with_bridge_transport(mut self, transport: tars::endpoint::Transport) -> Participants {
        self.bridge_transport = transport;
        self
    }

    /// The proxy of `target` (a resource id or proxy string), made once.
    fn proxy(&self, target: &str) -> Result<ParticipantProxy, ParticipantError> {
        if let Some(p) = self.proxies.lock().get(target) {
            return Ok(p.clone());
        }
        // Resolving may ask the registry: do it outside the lock.
        let proxy = self.communicator.string_to_proxy(target).map_err(|e| {
            ParticipantError::Unreachable {
                resource: target.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let typed = ParticipantProxy::new(proxy).with_timeout(self.timeout);
        Ok(self
            .proxies
            .lock()
            .entry(target.to_owned())
            .or_insert(typed)
            .clone())
    }

    /// Makes the phase-two call of `step` and returns the participant's answer.
    pub async fn call(&self, step: &Step) -> Result<BranchStatus, ParticipantError> {
        let b = &step.branch;
        let Some(route) = SeataRoute::parse(&b.client_id) else {
            return self.call_on(&b.resource_id, step, None).await;
        };
        let bridge = route.proxy_string_via(
            u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            &self.bridge_transport,
        );
        let first = self.call_on(&bridge, step, Some(route.client_id)).await;
        let elsewhere = match &first {
            Err(ParticipantError::Call { source, .. }) => match source {
                CallError::Server { code, .. } => *code == NO_RM_CONNECTION,
                CallError::Timeout(_) | CallError::Transport(_) | CallError::NoEndpoint { .. } => {
                    true
                }
                CallError::Decode(_) => false,
            },
            _ => false,
        };
        if !elsewhere {
            return first;
        }
        match self
            .call_on(SEATA_RM_OBJ, step, Some(route.client_id))
            .await
        {
            // No bridge registered anywhere: the first failure says more.
            Err(ParticipantError::Unreachable { .. }) => first,
            other => other,
        }
    }

    /// The phase-two call of `step` on the participant `target`; `seata_client` is the Java
    /// client id a Seata bridge needs.
    async fn call_on(
        &self,
        target: &str,
        step: &Step,
        seata_client: Option<&str>,
    ) -> Result<BranchStatus, ParticipantError> {
        let b = &step.branch;
        let mut proxy = self
            .proxy(target)?
            .with_context(tars::client::XID_CONTEXT_KEY, step.xid.as_str());
        if let Some(client) = seata_client {
            proxy = proxy.with_context(SEATA_CLIENT_ID_CONTEXT, client);
        }
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
            self.proxies.lock().remove(target);
        }
        answer.map_err(|source| ParticipantError::Call {
            resource: b.resource_id.clone(),
            source,
        })
    }
}
