//! An account's money and its TCC fence: one [`Entry`] per branch `(xid, branch id)`.
//!
//! - A try reserves: a debit freezes the amount (it stays in the balance but cannot be
//!   spent), a credit records it as incoming (not spendable until confirmed).
//! - Confirm applies the reservation, cancel releases it. Both are idempotent: a repeated
//!   call finds the entry already `CONFIRMED` / `CANCELLED` and answers done.
//! - Empty rollback: a cancel for a branch without an entry (its try never ran, or failed
//!   before reserving) records a `CANCELLED` entry with nothing to release.
//! - Anti-suspension: a try that finds its branch `CANCELLED` (it arrived after the cancel)
//!   is refused and leaves nothing behind.
//!
//! Everything happens under one lock, so a cancel racing a try sees either no entry (and
//! fences the try out) or the whole reservation (and releases it).

use std::collections::HashMap;

use parking_lot::Mutex;
use tars_coordinator::client::{BranchInfo, PhaseTwo, TccParticipant};

use crate::Bank::{Balance, Entry, EntryKind, EntryState};

/// Why a try was refused. A refused try leaves no effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The amount is not positive.
    InvalidAmount(i64),
    /// A debit larger than the available money (balance minus frozen).
    InsufficientFunds {
        /// What could be debited.
        available: i64,
        /// What was asked.
        amount: i64,
    },
    /// The branch was cancelled before this try arrived (suspension): it must not take effect.
    Cancelled,
    /// The branch already has an entry for a different transfer, side or amount.
    Conflict,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::InvalidAmount(a) => write!(f, "invalid amount {a}"),
            Refused::InsufficientFunds { available, amount } => {
                write!(
                    f,
                    "insufficient funds: {amount} asked, {available} available"
                )
            }
            Refused::Cancelled => f.write_str("the branch was cancelled before its try arrived"),
            Refused::Conflict => f.write_str("the branch was tried with other arguments"),
        }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// Whether the coordinator may simply forget the branch: the try failed before any
    /// effect and no cancel has been recorded (so no fence needs the cancel to arrive).
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            Refused::InvalidAmount(_) | Refused::InsufficientFunds { .. }
        )
    }
}

/// The application data a branch is registered with: `transfer=<id>;kind=<debit|credit>;amount=<n>`
/// (handed back with confirm/cancel; an empty rollback takes the transfer from it).
pub fn application_data(transfer_id: &str, kind: EntryKind, amount: i64) -> String {
    let kind = match kind {
        EntryKind::DEBIT => "debit",
        EntryKind::CREDIT => "credit",
        EntryKind::Unrecognized(_) => "unknown",
    };
    format!("transfer={transfer_id};kind={kind};amount={amount}")
}

/// The transfer id, side and amount of [`application_data`], as far as they parse.
pub fn parse_application_data(data: &str) -> (String, EntryKind, i64) {
    let mut transfer = String::new();
    let mut kind = EntryKind::DEBIT;
    let mut amount = 0;
    for field in data.split(';') {
        match field.split_once('=') {
            Some(("transfer", v)) => transfer = v.to_owned(),
            Some(("kind", "credit")) => kind = EntryKind::CREDIT,
            Some(("amount", v)) => amount = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    (transfer, kind, amount)
}

type Key = (String, i64);

#[derive(Debug, Default)]
struct Inner {
    balance: i64,
    frozen: i64,
    incoming: i64,
    entries: Vec<Entry>,
    index: HashMap<Key, usize>,
    /// Confirms still to answer `RetryLater` (fault injection), per branch.
    failing_confirms: HashMap<Key, u32>,
}

impl Inner {
    fn entry_mut(&mut self, key: &Key) -> Option<&mut Entry> {
        let i = *self.index.get(key)?;
        self.entries.get_mut(i)
    }

    fn push(&mut self, key: Key, entry: Entry) {
        self.index.insert(key, self.entries.len());
        self.entries.push(entry);
    }

    /// Releases the reservation of a tried entry.
    fn release(&mut self, kind: EntryKind, amount: i64) {
        match kind {
            EntryKind::DEBIT => self.frozen -= amount,
            EntryKind::CREDIT => self.incoming -= amount,
            // Never reserved: entries are only made with the kinds above.
            EntryKind::Unrecognized(_) => {}
        }
    }
}

fn key(branch: &BranchInfo) -> Key {
    (branch.xid.clone(), branch.branch_id)
}

/// One account's ledger (in memory). It is also the account's [`TccParticipant`].
#[derive(Debug, Default)]
pub struct Ledger {
    name: String,
    inner: Mutex<Inner>,
}

impl Ledger {
    /// An account `name` holding `balance`.
    pub fn new(name: impl Into<String>, balance: i64) -> Ledger {
        Ledger {
            name: name.into(),
            inner: Mutex::new(Inner {
                balance,
                ..Inner::default()
            }),
        }
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The try of `branch`: reserves `amount` for the `kind` side of `transfer_id`. The
    /// first `failing_confirms` confirms of the branch will answer `RetryLater` (fault
    /// injection). A repeated try of the same branch is accepted once more without effect.
    pub fn try_reserve(
        &self,
        branch: &BranchInfo,
        transfer_id: &str,
        kind: EntryKind,
        amount: i64,
        failing_confirms: u32,
    ) -> Result<(), Refused> {
        if amount <= 0 {
            return Err(Refused::InvalidAmount(amount));
        }
        let key = key(branch);
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.entry_mut(&key) {
            if entry.state == EntryState::CANCELLED {
                // Anti-suspension: the cancel came first; this try must not take effect.
                entry.late_try_refused = true;
                return Err(Refused::Cancelled);
            }
            let same =
                entry.transfer_id == transfer_id && entry.kind == kind && entry.amount == amount;
            return if same { Ok(()) } else { Err(Refused::Conflict) };
        }
        if kind == EntryKind::DEBIT {
            let available = inner.balance - inner.frozen;
            if available < amount {
                return Err(Refused::InsufficientFunds { available, amount });
            }
            inner.frozen += amount;
        } else {
            inner.incoming += amount;
        }
        if failing_confirms > 0 {
            inner.failing_confirms.insert(key.clone(), failing_confirms);
        }
        inner.push(
            key,
            Entry {
                xid: branch.xid.clone().into(),
                branch_id: branch.branch_id,
                transfer_id: transfer_id.into(),
                kind,
                amount,
                state: EntryState::TRIED,
                empty_rollback: false,
                late_try_refused: false,
            },
        );
        Ok(())
    }

    /// The account's money now.
    pub fn balance(&self) -> Balance {
        let inner = self.inner.lock();
        Balance {
            balance: inner.balance,
            frozen: inner.frozen,
            incoming: inner.incoming,
        }
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.inner.lock().entries.clone()
    }
}

impl TccParticipant for Ledger {
    fn confirm(&self, branch: &BranchInfo) -> PhaseTwo {
        let key = key(branch);
        let mut inner = self.inner.lock();
        if let Some(left) = inner.failing_confirms.get_mut(&key) {
            *left -= 1;
            if *left == 0 {
                inner.failing_confirms.remove(&key);
            }
            tracing::info!(account = %self.name, xid = %branch.xid, branch = branch.branch_id,
                "injected fault: confirm answers RetryLater");
            return PhaseTwo::RetryLater;
        }
        let Some(entry) = inner.entry_mut(&key) else {
            // Confirm only follows a successful try: this account lost its state.
            tracing::error!(account = %self.name, xid = %branch.xid, branch = branch.branch_id,
                "confirm of a branch without a try");
            return PhaseTwo::GiveUp;
        };
        match entry.state {
            EntryState::CONFIRMED => PhaseTwo::Done,
            EntryState::CANCELLED => {
                tracing::error!(account = %self.name, xid = %branch.xid, branch = branch.branch_id,
                    "confirm of a cancelled branch");
                PhaseTwo::GiveUp
            }
            EntryState::TRIED => {
                entry.state = EntryState::CONFIRMED;
                let (kind, amount) = (entry.kind, entry.amount);
                inner.release(kind, amount);
                match kind {
                    EntryKind::DEBIT => inner.balance -= amount,
                    EntryKind::CREDIT => inner.balance += amount,
                    EntryKind::Unrecognized(_) => {}
                }
                PhaseTwo::Done
            }
            // Entries are only made in the states above.
            EntryState::Unrecognized(_) => PhaseTwo::GiveUp,
        }
    }

    fn cancel(&self, branch: &BranchInfo) -> PhaseTwo {
        let key = key(branch);
        let mut inner = self.inner.lock();
        inner.failing_confirms.remove(&key);
        let Some(entry) = inner.entry_mut(&key) else {
            // Empty rollback: nothing was reserved. Record the cancel so that a late try of
            // this branch is refused.
            let (transfer_id, kind, amount) = parse_application_data(&branch.application_data);
            inner.push(
                key,
                Entry {
                    xid: branch.xid.clone().into(),
                    branch_id: branch.branch_id,
                    transfer_id: transfer_id.into(),
                    kind,
                    amount,
                    state: EntryState::CANCELLED,
                    empty_rollback: true,
                    late_try_refused: false,
                },
            );
            return PhaseTwo::Done;
        };
        match entry.state {
            EntryState::CANCELLED => PhaseTwo::Done,
            EntryState::CONFIRMED => {
                tracing::error!(account = %self.name, xid = %branch.xid, branch = branch.branch_id,
                    "cancel of a confirmed branch");
                PhaseTwo::GiveUp
            }
            EntryState::TRIED => {
                entry.state = EntryState::CANCELLED;
                let (kind, amount) = (entry.kind, entry.amount);
                inner.release(kind, amount);
                PhaseTwo::Done
            }
            EntryState::Unrecognized(_) => PhaseTwo::GiveUp,
        }
    }
}

#[cfg(test)]
mod tests {
    use tars_coordinator::client::BranchType;

    use super::*;

    fn branch(id: i64, data: &str) -> BranchInfo {
        BranchInfo {
            xid: "x".into(),
            branch_id: id,
            branch_type: BranchType::TCC,
            resource_id: "Bank.AccountA.ParticipantObj".into(),
            application_data: data.into(),
        }
    }

    fn money(l: &Ledger) -> (i64, i64, i64) {
        let b = l.balance();
        (b.balance, b.frozen, b.incoming)
    }

    #[test]
    fn confirm_applies_cancel_releases_and_both_are_idempotent() {
        let l = Ledger::new("A", 100);
        l.try_reserve(&branch(1, ""), "t1", EntryKind::DEBIT, 30, 0)
            .expect("tried");
        l.try_reserve(&branch(2, ""), "t2", EntryKind::CREDIT, 5, 0)
            .expect("tried");
        assert_eq!(money(&l), (100, 30, 5));
        assert_eq!(
            l.try_reserve(&branch(3, ""), "t3", EntryKind::DEBIT, 71, 0),
            Err(Refused::InsufficientFunds {
                available: 70,
                amount: 71
            })
        );
        for _ in 0..2 {
            assert_eq!(l.confirm(&branch(1, "")), PhaseTwo::Done);
            assert_eq!(l.cancel(&branch(2, "")), PhaseTwo::Done);
        }
        assert_eq!(money(&l), (70, 0, 0));
        // The opposite phase two of a settled branch is refused.
        assert_eq!(l.cancel(&branch(1, "")), PhaseTwo::GiveUp);
        assert_eq!(l.confirm(&branch(2, "")), PhaseTwo::GiveUp);
        assert_eq!(money(&l), (70, 0, 0));
    }

    #[test]
    fn empty_rollback_then_a_late_try_is_refused() {
        let l = Ledger::new("A", 100);
        let b = branch(7, &application_data("t7", EntryKind::DEBIT, 40));
        assert_eq!(l.cancel(&b), PhaseTwo::Done, "empty rollback");
        assert_eq!(
            l.try_reserve(&b, "t7", EntryKind::DEBIT, 40, 0),
            Err(Refused::Cancelled),
            "suspension"
        );
        assert_eq!(money(&l), (100, 0, 0));
        let entries = l.entries();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            (e.transfer_id.as_str(), e.kind, e.amount, e.state),
            ("t7", EntryKind::DEBIT, 40, EntryState::CANCELLED)
        );
        assert!(e.empty_rollback && e.late_try_refused);
    }

    #[test]
    fn injected_confirm_failures_answer_retry_later_first() {
        let l = Ledger::new("B", 0);
        l.try_reserve(&branch(1, ""), "t1", EntryKind::CREDIT, 9, 1)
            .expect("tried");
        assert_eq!(l.confirm(&branch(1, "")), PhaseTwo::RetryLater);
        assert_eq!(money(&l), (0, 0, 9));
        assert_eq!(l.confirm(&branch(1, "")), PhaseTwo::Done);
        assert_eq!(money(&l), (9, 0, 0));
        // Confirm without a try: the account lost its state.
        assert_eq!(l.confirm(&branch(2, "")), PhaseTwo::GiveUp);
    }

    #[test]
    fn application_data_round_trips() {
        let d = application_data("run-1-5", EntryKind::CREDIT, 12);
        assert_eq!(
            parse_application_data(&d),
            ("run-1-5".to_owned(), EntryKind::CREDIT, 12)
        );
    }
}
