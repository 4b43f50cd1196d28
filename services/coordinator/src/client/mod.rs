//! The client library applications use with the coordinator.
//!
//! - TM side ([`TransactionManager`], [`GlobalTransaction`]): begin a global transaction, then
//!   commit or roll it back; [`TransactionManager::run`] does all of it around a closure, with
//!   the XID in the ambient call context ([`tars::client::ambient`]) so every proxy call the
//!   closure makes carries it (`TX_XID`).
//! - RM side ([`ResourceManager`]): register branches and report them, query AT locks, and
//!   [`ResourceManager::tcc_try`] for the try phase of a TCC branch inside a servant. A try
//!   that fails keeps its branch: the rollback cancels it.
//! - Phase two ([`TccParticipant`], [`ParticipantService`]): the `Participant` servant an RM
//!   hosts under the branch's resource id; the coordinator calls it to confirm or cancel.
//!   Participants must be idempotent and tolerate an empty rollback and a late try (the
//!   contract is on [`TccParticipant`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use tars::client::Communicator;
//! use tars_coordinator::client::TransactionManager;
//! use tars_protocols::tarstx::CoordinatorProxy;
//!
//! let comm = Communicator::new();
//! let proxy = comm
//!     .string_to_proxy("tars.tarscoordinator.CoordinatorObj@tcp -h 127.0.0.1 -p 8091")
//!     .expect("proxy");
//! let tm = TransactionManager::new(CoordinatorProxy::new(proxy));
//! let order_id = tm.run("place-order", Duration::from_secs(10), |tx| {
//!     // Proxy calls made here carry TX_XID = tx.xid(); a failure rolls everything back.
//!     Ok::<_, std::io::Error>(42)
//! });
//! ```

mod error;
mod rm;
mod tm;

pub use error::{RunError, TryError, TxError, RETRY_FOR};
pub use rm::{
    propagate, xid_of, BranchInfo, ParticipantService, PhaseTwo, ResourceManager, TccParticipant,
    TxRef,
};
pub use tars::client::XID_CONTEXT_KEY;
pub use tars_protocols::tarstx::{
    BranchStatus, BranchType, CoordinatorProxy, GlobalStatus, ParticipantProxy,
    TransactionExceptionCode,
};
pub use tm::{GlobalTransaction, TransactionManager};
