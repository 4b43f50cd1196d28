//! The bank-transfer example: money moves from account A to account B in global
//! transactions coordinated by `tarsd`, with TCC branches at both accounts.
//!
//! - [`Bank`]: the `Bank::Account` interface generated from `idl/Bank.tars`.
//! - [`ledger`]: an account's money with TCC reservations and the fence that makes confirm
//!   and cancel idempotent and tolerates empty rollbacks and late tries.
//! - [`account`]: the account service (its `AccountObj` and `ParticipantObj`, registered with
//!   the registry), with fault injection for the demo.
//! - [`transfer`]: the TM running transfers under `TransactionManager::run`, and the invariant
//!   check.
//! - [`demo`]: all of it in one process.
//! - [`cli`]: the binaries' shared flags.
#![deny(missing_docs)]

pub mod account;
pub mod cli;
pub mod demo;
pub mod ledger;
pub mod transfer;

include!(concat!(env!("OUT_DIR"), "/tars_generated.rs"));
