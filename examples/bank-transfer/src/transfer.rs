//! The TM side: transfers from account A to account B, each one global transaction
//! (`tryDebit` on A, `tryCredit` on B, then commit) run by [`TransactionManager::run`], with
//! failure injection; then the check that phase two settled and the money adds up.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use parking_lot::Mutex;
use tars::client::{CallError, Communicator};
use tars_coordinator::client::{CoordinatorProxy, RunError, TransactionManager};

use crate::account::{account_obj, Faults, FAULT_KEY};
use crate::Bank::{AccountProxy, Balance, Entry, EntryKind, EntryState};

/// The TM's handles: the transaction manager and both accounts' proxies, resolved by name
/// through the registry.
#[derive(Debug, Clone)]
pub struct BankClient {
    tm: TransactionManager,
    a: AccountProxy,
    b: AccountProxy,
}

impl BankClient {
    /// Connects to the coordinator at `coordinator` (`...CoordinatorObj@tcp -h .. -p ..`) and
    /// to accounts A and B through the registry at `registry` (`...RegistryObj@tcp ...`).
    pub fn connect(registry: &str, coordinator: &str) -> anyhow::Result<BankClient> {
        let comm = Communicator::new()
            // Re-resolve soon if an account registers after this client started.
            .with_refresh_interval(Duration::from_secs(1))
            .with_registry_locator(registry)
            .with_context(|| format!("registry {registry:?}"))?;
        let account = |name: &str| -> anyhow::Result<AccountProxy> {
            let obj = account_obj(name);
            let proxy = comm
                .string_to_proxy(&obj)
                .with_context(|| format!("resolving {obj}"))?;
            Ok(AccountProxy::new(proxy))
        };
        let coordinator_proxy = Communicator::new()
            .string_to_proxy(coordinator)
            .with_context(|| format!("coordinator {coordinator:?}"))?;
        Ok(BankClient {
            tm: TransactionManager::new(CoordinatorProxy::new(coordinator_proxy))
                .with_application_id("Bank.Transfer"),
            a: account("A")?,
            b: account("B")?,
        })
    }

    /// Waits until both accounts answer (they are registered and reachable).
    pub fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            match (self.a.get_balance(), self.b.get_balance()) {
                (Ok(_), Ok(_)) => return Ok(()),
                (a, b) if Instant::now() >= deadline => {
                    bail!("accounts not reachable after {limit:?}: A {a:?}, B {b:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Both accounts' money.
    pub fn balances(&self) -> anyhow::Result<(Balance, Balance)> {
        Ok((
            self.a.get_balance().context("balance of A")?,
            self.b.get_balance().context("balance of B")?,
        ))
    }

    /// Both accounts' ledger entries.
    pub fn entries(&self) -> anyhow::Result<(Vec<Entry>, Vec<Entry>)> {
        Ok((
            self.a.entries().context("entries of A")?,
            self.b.entries().context("entries of B")?,
        ))
    }
}

/// What to run. "Every K" counts transfers from 1 (the K-th, 2K-th, ...); 0 is never.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Number of transfers.
    pub transfers: usize,
    /// Transfers run at once (TM threads).
    pub concurrency: usize,
    /// Amounts are 1..=max_amount.
    pub max_amount: i64,
    /// Every K-th transfer's tryCredit reserves, then fails: the rollback cancels both sides.
    pub fail_credit_every: usize,
    /// Every K-th transfer's TM fails after both tries succeeded: it rolls back.
    pub crash_tm_every: usize,
    /// Every K-th transfer's confirms answer RetryLater once at each account: the
    /// coordinator retries them.
    pub fail_confirm_every: usize,
    /// Every K-th transfer has a short timeout and its tryDebit waits
    /// [`late_try_delay`](Self::late_try_delay) after registering its branch: the coordinator
    /// times the transaction out and cancels the branch before the try reserves (an empty
    /// rollback), and the late try is refused (anti-suspension).
    pub late_try_every: usize,
    /// How long a late try waits.
    pub late_try_delay: Duration,
    /// The timeout of a late-try transfer's transaction.
    pub late_try_timeout: Duration,
    /// The timeout of the other transactions.
    pub tx_timeout: Duration,
    /// How long to wait for phase two to settle after the transfers.
    pub settle_timeout: Duration,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            transfers: 100,
            concurrency: 4,
            max_amount: 100,
            fail_credit_every: 0,
            crash_tm_every: 0,
            fail_confirm_every: 0,
            late_try_every: 0,
            late_try_delay: Duration::from_millis(1500),
            late_try_timeout: Duration::from_millis(200),
            tx_timeout: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(30),
        }
    }
}

/// The faults injected into one transfer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injection {
    /// tryCredit fails after reserving.
    pub fail_credit: bool,
    /// The TM fails after the tries.
    pub crash_tm: bool,
    /// Confirms answer RetryLater once.
    pub fail_confirm: bool,
    /// tryDebit arrives after the transaction timed out.
    pub late_try: bool,
}

impl Injection {
    /// Whether the transfer must roll back.
    pub fn must_roll_back(&self) -> bool {
        self.fail_credit || self.crash_tm || self.late_try
    }
}

fn every(k: usize, i: usize) -> bool {
    k > 0 && i.is_multiple_of(k)
}

impl Plan {
    /// The faults of transfer `i` (from 1).
    pub fn injection(&self, i: usize) -> Injection {
        Injection {
            fail_credit: every(self.fail_credit_every, i),
            crash_tm: every(self.crash_tm_every, i),
            fail_confirm: every(self.fail_confirm_every, i),
            late_try: every(self.late_try_every, i),
        }
    }

    /// The amount of transfer `i`.
    pub fn amount(&self, i: usize) -> i64 {
        1 + (i as i64 * 37) % self.max_amount.max(1)
    }
}

/// How a transfer ended, as the TM saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `run` returned the body's value: the transaction committed (phase two may still be
    /// retrying).
    Committed,
    /// The transaction was rolled back (after the body failed, or because it timed out).
    RolledBack,
    /// Anything else (the outcome is unknown to the TM): never expected in this demo.
    Unknown(String),
}

/// One transfer.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Its index (from 1).
    pub index: usize,
    /// Its id (the accounts' entries carry it).
    pub id: String,
    /// The global transaction (empty when it did not begin).
    pub xid: String,
    /// The amount.
    pub amount: i64,
    /// The injected faults.
    pub injection: Injection,
    /// How it ended.
    pub outcome: Outcome,
    /// Why the body failed, when it did.
    pub error: Option<String>,
    /// Its entries at account A once phase two settled.
    pub at_a: Vec<Entry>,
    /// Its entries at account B once phase two settled.
    pub at_b: Vec<Entry>,
}

/// Why a transfer's body failed.
#[derive(Debug)]
enum Step {
    Debit(CallError),
    Credit(CallError),
    TmCrash,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Debit(e) => write!(f, "tryDebit: {e}"),
            Step::Credit(e) => write!(f, "tryCredit: {e}"),
            Step::TmCrash => f.write_str("injected TM failure after the tries"),
        }
    }
}

/// The result of a run: the transfers, the balances before and after, and every invariant
/// that broke.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every transfer, by index.
    pub transfers: Vec<Transfer>,
    /// A and B before.
    pub before: (Balance, Balance),
    /// A and B after phase two settled (or gave up waiting).
    pub after: (Balance, Balance),
    /// How long the transfers took (without settling).
    pub elapsed: Duration,
    /// How long settling took.
    pub settled_in: Duration,
    /// Cancels that came before any try (this run's entries).
    pub empty_rollbacks: usize,
    /// Tries refused because their branch was already cancelled (this run's entries).
    pub late_tries_refused: usize,
    /// The invariants that broke (empty: all good).
    pub violations: Vec<String>,
}

impl Summary {
    /// Whether every invariant held.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Transfers that ended with `outcome`.
    pub fn count(&self, outcome: &Outcome) -> usize {
        self.transfers
            .iter()
            .filter(|t| &t.outcome == outcome)
            .count()
    }

    /// Transfers whose outcome is unknown.
    pub fn unknown(&self) -> usize {
        self.transfers
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Unknown(_)))
            .count()
    }

    /// The money committed transfers moved.
    pub fn moved(&self) -> i64 {
        self.transfers
            .iter()
            .filter(|t| t.outcome == Outcome::Committed)
            .map(|t| t.amount)
            .sum()
    }

    fn injected(&self, f: impl Fn(&Injection) -> bool) -> usize {
        self.transfers.iter().filter(|t| f(&t.injection)).count()
    }
}

fn money(b: &Balance) -> String {
    format!(
        "balance {:>9}, frozen {}, incoming {}",
        b.balance, b.frozen, b.incoming
    )
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.transfers.len();
        writeln!(
            f,
            "{n} transfers in {:.2} s ({:.0}/s); phase two settled {:.2} s later",
            self.elapsed.as_secs_f64(),
            n as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.settled_in.as_secs_f64()
        )?;
        writeln!(
            f,
            "  committed    {:>5}  (moved {})",
            self.count(&Outcome::Committed),
            self.moved()
        )?;
        writeln!(
            f,
            "  rolled back  {:>5}  (injected: credit failed {}, TM failed {}, late try {})",
            self.count(&Outcome::RolledBack),
            self.injected(|i| i.fail_credit),
            self.injected(|i| i.crash_tm),
            self.injected(|i| i.late_try),
        )?;
        writeln!(f, "  unknown      {:>5}", self.unknown())?;
        writeln!(
            f,
            "  confirms failing once: {} transfers; empty rollbacks {}; late tries refused {}",
            self.injected(|i| i.fail_confirm),
            self.empty_rollbacks,
            self.late_tries_refused
        )?;
        let (a0, b0) = &self.before;
        let (a1, b1) = &self.after;
        writeln!(f, "  AccountA  before {}", money(a0))?;
        writeln!(f, "            after  {}", money(a1))?;
        writeln!(f, "  AccountB  before {}", money(b0))?;
        writeln!(f, "            after  {}", money(b1))?;
        writeln!(
            f,
            "  total     before {}, after {}",
            a0.balance + b0.balance,
            a1.balance + b1.balance
        )?;
        if self.is_ok() {
            write!(f, "INVARIANTS OK")
        } else {
            writeln!(f, "INVARIANTS BROKEN:")?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
            Ok(())
        }
    }
}

/// Runs one transfer.
fn transfer(client: &BankClient, plan: &Plan, run_id: &str, index: usize) -> Transfer {
    let id = format!("{run_id}-{index}");
    let amount = plan.amount(index);
    let injection = plan.injection(index);
    let debit_faults = Faults {
        confirm_retry_once: injection.fail_confirm,
        delay_try: injection.late_try.then_some(plan.late_try_delay),
        ..Faults::default()
    };
    let credit_faults = Faults {
        fail_try: injection.fail_credit,
        confirm_retry_once: injection.fail_confirm,
        ..Faults::default()
    };
    let a = client.a.with_context(FAULT_KEY, debit_faults.to_context());
    let b = client.b.with_context(FAULT_KEY, credit_faults.to_context());
    let timeout = if injection.late_try {
        plan.late_try_timeout
    } else {
        plan.tx_timeout
    };
    let result = client.tm.run("bank-transfer", timeout, |tx| {
        // Both calls carry the XID through the ambient context.
        a.try_debit(&id, amount).map_err(Step::Debit)?;
        b.try_credit(&id, amount).map_err(Step::Credit)?;
        if injection.crash_tm {
            return Err(Step::TmCrash);
        }
        Ok(tx.xid().to_owned())
    });
    let (xid, outcome, error) = match result {
        Ok(xid) => (xid, Outcome::Committed, None),
        Err(e) => {
            let xid = e.xid().unwrap_or_default().to_owned();
            let error = Some(e.to_string());
            let outcome = match e {
                RunError::RolledBack { .. } | RunError::TimeoutRollbacked { .. } => {
                    Outcome::RolledBack
                }
                other => Outcome::Unknown(other.to_string()),
            };
            (xid, outcome, error)
        }
    };
    Transfer {
        index,
        id,
        xid,
        amount,
        injection,
        outcome,
        error,
        at_a: Vec::new(),
        at_b: Vec::new(),
    }
}

/// Polls until neither account has reservations left (and none of `ids` has an entry still
/// `TRIED`), at most `limit`. Returns whether it settled.
fn settle(client: &BankClient, ids: &HashMap<String, usize>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let settled = match (client.balances(), client.entries()) {
            (Ok((a, b)), Ok((ea, eb))) => {
                a.frozen == 0
                    && a.incoming == 0
                    && b.frozen == 0
                    && b.incoming == 0
                    && !ea.iter().chain(&eb).any(|e| {
                        e.state == EntryState::TRIED && ids.contains_key(e.transfer_id.as_str())
                    })
            }
            _ => false,
        };
        if settled {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `plan` against the accounts, waits for phase two to settle and checks:
///
/// - no reservation is left (frozen and incoming are 0 at both accounts);
/// - the total money is conserved, A lost and B gained exactly what committed transfers
///   moved;
/// - each committed transfer has exactly one confirmed debit at A and one confirmed credit at
///   B, of its amount; a rolled-back one has no confirmed (nor pending) entry at either;
/// - every transfer ended as its injected faults say (rolled back iff a fault forces it),
///   and none has an unknown outcome.
///
/// The accounts must not be used by anyone else meanwhile.
pub fn run(client: &BankClient, plan: &Plan) -> anyhow::Result<Summary> {
    // Whatever an earlier run left in flight settles first.
    if !settle(client, &HashMap::new(), plan.settle_timeout) {
        bail!("the accounts still have reservations from earlier transfers");
    }
    let before = client.balances()?;
    let run_id = format!(
        "r{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );

    let start = Instant::now();
    let next = AtomicUsize::new(1);
    let done = Mutex::new(Vec::with_capacity(plan.transfers));
    std::thread::scope(|s| {
        for _ in 0..plan.concurrency.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > plan.transfers {
                    break;
                }
                let t = transfer(client, plan, &run_id, i);
                done.lock().push(t);
            });
        }
    });
    let elapsed = start.elapsed();
    let mut transfers = done.into_inner();
    transfers.sort_by_key(|t| t.index);
    let ids: HashMap<String, usize> = transfers
        .iter()
        .enumerate()
        .map(|(pos, t)| (t.id.clone(), pos))
        .collect();

    let settle_start = Instant::now();
    let settled = settle(client, &ids, plan.settle_timeout);
    let settled_in = settle_start.elapsed();
    let after = client.balances()?;
    let (entries_a, entries_b) = client.entries()?;

    let mut violations = Vec::new();
    if !settled {
        violations.push(format!(
            "phase two did not settle within {:?}",
            plan.settle_timeout
        ));
    }
    let summary_moved: i64 = transfers
        .iter()
        .filter(|t| t.outcome == Outcome::Committed)
        .map(|t| t.amount)
        .sum();
    let (a0, b0) = &before;
    let (a1, b1) = &after;
    for (name, b) in [("A", a1), ("B", b1)] {
        if b.frozen != 0 || b.incoming != 0 {
            violations.push(format!(
                "account {name} still has reservations: frozen {}, incoming {}",
                b.frozen, b.incoming
            ));
        }
    }
    if a0.balance + b0.balance != a1.balance + b1.balance {
        violations.push(format!(
            "money not conserved: {} before, {} after",
            a0.balance + b0.balance,
            a1.balance + b1.balance
        ));
    }
    if a1.balance != a0.balance - summary_moved || b1.balance != b0.balance + summary_moved {
        violations.push(format!(
            "committed transfers moved {summary_moved}, but A went {} -> {} and B {} -> {}",
            a0.balance, a1.balance, b0.balance, b1.balance
        ));
    }

    // Per transfer: its entries at each account.
    for e in &entries_a {
        if let Some(&pos) = ids.get(e.transfer_id.as_str()) {
            transfers[pos].at_a.push(e.clone());
        }
    }
    for e in &entries_b {
        if let Some(&pos) = ids.get(e.transfer_id.as_str()) {
            transfers[pos].at_b.push(e.clone());
        }
    }
    let (mut empty_rollbacks, mut late_tries_refused) = (0, 0);
    for e in transfers.iter().flat_map(|t| t.at_a.iter().chain(&t.at_b)) {
        empty_rollbacks += usize::from(e.empty_rollback);
        late_tries_refused += usize::from(e.late_try_refused);
    }
    for t in &transfers {
        let what = || {
            format!(
                "transfer {} ({}, amount {}, {:?}, {:?}; A {:?}; B {:?})",
                t.index, t.xid, t.amount, t.injection, t.error, t.at_a, t.at_b
            )
        };
        match &t.outcome {
            Outcome::Committed => {
                let one = |entries: &[Entry], kind: EntryKind| {
                    entries.len() == 1
                        && entries[0].kind == kind
                        && entries[0].state == EntryState::CONFIRMED
                        && entries[0].amount == t.amount
                };
                if !one(&t.at_a, EntryKind::DEBIT) || !one(&t.at_b, EntryKind::CREDIT) {
                    violations.push(format!(
                        "committed but not exactly one confirmed debit and credit: {}",
                        what()
                    ));
                }
                if t.injection.must_roll_back() {
                    violations.push(format!("committed despite an injected fault: {}", what()));
                }
            }
            Outcome::RolledBack => {
                if t.at_a
                    .iter()
                    .chain(&t.at_b)
                    .any(|e| e.state != EntryState::CANCELLED)
                {
                    violations.push(format!(
                        "rolled back but an entry is not cancelled: {}",
                        what()
                    ));
                }
                if !t.injection.must_roll_back() {
                    violations.push(format!("rolled back without a fault: {}", what()));
                }
            }
            Outcome::Unknown(why) => {
                violations.push(format!("outcome unknown ({why}): {}", what()));
            }
        }
    }
    Ok(Summary {
        transfers,
        before,
        after,
        elapsed,
        settled_in,
        empty_rollbacks,
        late_tries_refused,
        violations,
    })
}
