//! Transactions in cluster mode: held by the leaders of the cluster's fragments, read and
//! acted on over the nodes' `CoordinatorObj` ([`TransactionSource`]; tarsd implements it).
//!
//! - The list asks every live node for the transactions of the fragments it leads
//!   (`listTransactions`), in parallel and each within a timeout; the nodes that did not
//!   answer are named in [`Answered::failed`].
//! - The detail page and the actions go to any node's coordinator, which routes them by XID
//!   to the fragment's leader. They are made as the console's principal (named in the call's
//!   context, `tars_coordinator::servant::PRINCIPAL_CONTEXT_KEY`): the node's own router
//!   trusts the name from an in-process caller, and the leader from the forwarding node when
//!   that node's principal is one of its `[coordinator.access] forwarders`.

use tars_protocols::tarstx::{GlobalStatus, TxDetail, TxFilter, TxResult, TxSummary};

use crate::Answered;

/// An operator's action on a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxAction {
    /// `retry`: drive a transaction whose phase two gave up again.
    Retry,
    /// `stopRetrying`: end the retries of phase two now.
    StopRetrying,
    /// `rollback`: roll an undecided transaction back.
    Rollback,
}

/// One transaction of a cluster-wide list, with the node whose fragment holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The node that answered with it (the leader of its fragment).
    pub node: String,
    /// The transaction.
    pub summary: TxSummary,
}

/// Where the console reads and drives transactions it does not hold itself (cluster mode).
/// Calls block (they wait for other nodes): the console makes them on a blocking thread.
/// `Err` is a call that got no answer (the node is down, or the timeout passed); a refusal
/// is an answer (a failed [`TxResult`]).
pub trait TransactionSource: Send + Sync {
    /// The open transactions every live node's fragments hold that match `filter`, read as
    /// `principal`, oldest first.
    fn list(&self, principal: &str, filter: &TxFilter) -> Result<Answered<Vec<Listed>>, String>;

    /// `xid` in full, read as `principal` (`describeTransaction`, routed to its leader).
    fn describe(&self, principal: &str, xid: &str) -> Result<(TxResult, TxDetail), String>;

    /// Does `action` to `xid` as `principal` (routed to its leader): the coordinator's
    /// result and the status after it.
    fn act(
        &self,
        principal: &str,
        xid: &str,
        action: TxAction,
    ) -> Result<(TxResult, GlobalStatus), String>;
}
