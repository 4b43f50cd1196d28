//! A Jepsen-style history of global transactions and its checker.
//!
//! The load generator records what the TM was told (acknowledged begins, branch registrations,
//! commits and rollbacks, each with the time the successful request was sent and the time its
//! answer came back), what every participant received in phase two, and — after the load
//! stopped and phase two settled — what `getStatus` says of every acknowledged transaction.
//! [`History::check`] lists every violation of:
//!
//! - **unique XIDs**: no XID is acknowledged by two begins;
//! - **atomicity**: no transaction has a committed and a rolled-back branch;
//! - **acknowledged commits**: a transaction the TM was told is committed has every
//!   acknowledged branch committed and none rolled back;
//! - **acknowledged rollbacks**: a transaction the TM was told is rolled back has no
//!   committed branch;
//! - **nothing lost**: every acknowledged branch got its phase two (commit or rollback), and
//!   every acknowledged transaction reached an end (its final status is not an open one, and
//!   agrees with what the TM was told);
//! - **row locks**: no AT row is held by two transactions at once. A committed transaction
//!   certainly held its rows from its register acknowledgement until the TM sent its commit
//!   (a commit is only accepted while the transaction is open and holds them); those
//!   intervals must not overlap between transactions. (Rolled-back transactions are left out:
//!   a failover may roll them back — and free their rows — before the TM's rollback.)
//! - **fencing**: once a leader epoch of a fragment acknowledged something, no older epoch of
//!   that fragment acknowledges a request sent later. XIDs and branch ids carry the fragment
//!   and the epoch of the leader that issued them, so a deposed leader that still answers is
//!   caught.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use tars_coordinator::xid::{TxId, Xid};

/// What the TM was told a commit or rollback ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    /// Decided to commit (Committed, Committing, CommitRetrying, AsyncCommitting).
    Committed,
    /// Decided to roll back (Rollbacked, Rollbacking, TimeoutRollbacked, ...).
    RolledBack,
    /// Nothing conclusive (Finished: the coordinator no longer knows the transaction, e.g. a
    /// retried commit whose first attempt ended it).
    Unknown(String),
}

/// What `getStatus` said after everything settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// Committed.
    Committed,
    /// Rolled back (also by timeout).
    RolledBack,
    /// Ended and forgotten.
    Finished,
    /// Still open (Begin, Committing, ...): not settled.
    Open(String),
}

/// An acknowledged begin.
#[derive(Debug, Clone)]
pub struct Begin {
    /// The XID the TM was given.
    pub xid: String,
    /// When the successful request was sent.
    pub sent: Instant,
    /// When its answer came.
    pub ack: Instant,
}

/// An acknowledged branch registration.
#[derive(Debug, Clone)]
pub struct Register {
    /// The transaction.
    pub xid: String,
    /// The branch id the TM was given.
    pub branch: i64,
    /// AT rows locked (`resource^^^table^^^pk`, as the test writes them); empty for TCC.
    pub rows: Vec<String>,
    /// When the successful request was sent.
    pub sent: Instant,
    /// When its answer came.
    pub ack: Instant,
}

/// An acknowledged commit or rollback.
#[derive(Debug, Clone)]
pub struct End {
    /// The transaction.
    pub xid: String,
    /// Whether the TM asked to commit (else to roll back).
    pub commit: bool,
    /// When the TM first sent it (the request may have been retried).
    pub first_sent: Instant,
    /// When its answer came.
    pub ack: Instant,
    /// What the TM was told.
    pub told: Told,
}

/// A phase-two call a participant received.
#[derive(Debug, Clone)]
pub struct Phase2 {
    /// The transaction.
    pub xid: String,
    /// The branch.
    pub branch: i64,
    /// branchCommit (else branchRollback).
    pub commit: bool,
    /// When it arrived.
    pub at: Instant,
}

/// Everything recorded in one run.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Acknowledged begins.
    pub begins: Vec<Begin>,
    /// Acknowledged registrations.
    pub registers: Vec<Register>,
    /// Acknowledged commits and rollbacks.
    pub ends: Vec<End>,
    /// What the participants received.
    pub phase2: Vec<Phase2>,
    /// `getStatus` of every acknowledged XID after the run settled.
    pub finals: HashMap<String, Final>,
}

/// An acknowledged write: (sent, acknowledged, what).
type Acked = (Instant, Instant, String);

/// Fragment and epoch of an XID.
pub fn xid_epoch(xid: &str) -> Option<(u32, u64)> {
    xid.parse::<Xid>().ok().map(|x| (x.id.fragment, x.id.epoch))
}

/// Fragment and epoch of a branch id.
pub fn branch_epoch(branch: i64) -> Option<(u32, u64)> {
    TxId::from_i64(branch).map(|t| (t.fragment, t.epoch))
}

impl History {
    /// The acknowledged branches that have not yet had a phase-two call.
    pub fn unsettled_branches(&self) -> Vec<(String, i64)> {
        let seen: HashSet<(&str, i64)> = self
            .phase2
            .iter()
            .map(|p| (p.xid.as_str(), p.branch))
            .collect();
        self.registers
            .iter()
            .filter(|r| !seen.contains(&(r.xid.as_str(), r.branch)))
            .map(|r| (r.xid.clone(), r.branch))
            .collect()
    }

    /// Everything recorded about `xid`, times relative to its begin being sent (for
    /// failure messages).
    pub fn describe(&self, xid: &str) -> String {
        let Some(t0) = self.begins.iter().find(|b| b.xid == xid).map(|b| b.sent) else {
            return format!("{xid}: no begin recorded");
        };
        let at = |t: Instant| {
            format!(
                "{:+.0}ms",
                t.saturating_duration_since(t0).as_secs_f64() * 1000.0
            )
        };
        let mut out = format!("{xid} (fragment/epoch {:?}):\n", xid_epoch(xid));
        for b in self.begins.iter().filter(|b| b.xid == xid) {
            out.push_str(&format!("  begin acked {}\n", at(b.ack)));
        }
        for r in self.registers.iter().filter(|r| r.xid == xid) {
            out.push_str(&format!(
                "  register branch {} (epoch {:?}) rows {:?} sent {} acked {}\n",
                r.branch,
                branch_epoch(r.branch),
                r.rows,
                at(r.sent),
                at(r.ack)
            ));
        }
        for e in self.ends.iter().filter(|e| e.xid == xid) {
            out.push_str(&format!(
                "  {} first sent {} acked {} told {:?}\n",
                if e.commit { "commit" } else { "rollback" },
                at(e.first_sent),
                at(e.ack),
                e.told
            ));
        }
        for p in self.phase2.iter().filter(|p| p.xid == xid) {
            out.push_str(&format!(
                "  participant got {} of branch {} at {}\n",
                if p.commit { "commit" } else { "rollback" },
                p.branch,
                at(p.at)
            ));
        }
        out.push_str(&format!("  final {:?}\n", self.finals.get(xid)));
        out
    }

    /// Every violation found (empty: the history is consistent).
    pub fn check(&self) -> Vec<String> {
        let mut v = Vec::new();
        // Unique XIDs.
        let mut seen = HashSet::new();
        for b in &self.begins {
            if !seen.insert(b.xid.as_str()) {
                v.push(format!("xid {} was issued twice", b.xid));
            }
        }
        // Phase-two calls per transaction.
        let mut calls: HashMap<&str, Vec<&Phase2>> = HashMap::new();
        for p in &self.phase2 {
            calls.entry(p.xid.as_str()).or_default().push(p);
        }
        let mut branches: HashMap<&str, Vec<&Register>> = HashMap::new();
        for r in &self.registers {
            branches.entry(r.xid.as_str()).or_default().push(r);
        }
        let mut told: HashMap<&str, Vec<&End>> = HashMap::new();
        for e in &self.ends {
            told.entry(e.xid.as_str()).or_default().push(e);
        }
        let empty = Vec::new();
        for b in &self.begins {
            let xid = b.xid.as_str();
            let calls = calls.get(xid).unwrap_or(&empty);
            let committed = calls.iter().any(|p| p.commit);
            let rolled_back = calls.iter().any(|p| !p.commit);
            if committed && rolled_back {
                v.push(format!(
                    "{xid}: half applied (committed and rolled-back branches)"
                ));
            }
            let ends = told.get(xid).cloned().unwrap_or_default();
            let told_commit = ends.iter().any(|e| e.told == Told::Committed);
            let told_rollback = ends.iter().any(|e| e.told == Told::RolledBack);
            if told_commit && told_rollback {
                v.push(format!("{xid}: the TM was told committed and rolled back"));
            }
            for r in branches.get(xid).cloned().unwrap_or_default() {
                let mine: Vec<&&Phase2> = calls.iter().filter(|p| p.branch == r.branch).collect();
                if mine.is_empty() {
                    v.push(format!(
                        "{xid}: acknowledged branch {} never got its phase two (lost)",
                        r.branch
                    ));
                }
                if told_commit && !mine.iter().any(|p| p.commit) {
                    v.push(format!(
                        "{xid}: acknowledged commit, but branch {} was not committed",
                        r.branch
                    ));
                }
            }
            if told_commit && rolled_back {
                v.push(format!(
                    "{xid}: acknowledged commit, but a branch was rolled back"
                ));
            }
            if told_rollback && committed {
                v.push(format!(
                    "{xid}: acknowledged rollback, but a branch was committed"
                ));
            }
            match self.finals.get(xid) {
                None => v.push(format!("{xid}: no final status recorded")),
                Some(Final::Open(s)) => v.push(format!("{xid}: never ended (status {s})")),
                Some(Final::RolledBack) if told_commit => v.push(format!(
                    "{xid}: acknowledged commit, final status rolled back"
                )),
                Some(Final::Committed) if told_rollback => v.push(format!(
                    "{xid}: acknowledged rollback, final status committed"
                )),
                Some(_) => {}
            }
        }
        // Acknowledged work on transactions nobody acknowledged a begin for.
        let begun: HashSet<&str> = self.begins.iter().map(|b| b.xid.as_str()).collect();
        for r in &self.registers {
            if !begun.contains(r.xid.as_str()) {
                v.push(format!("{}: branch {} of an unknown xid", r.xid, r.branch));
            }
        }
        v.extend(self.lock_violations());
        v.extend(self.fencing_violations());
        v
    }

    /// Rows held by two committed transactions at once (see the module docs).
    fn lock_violations(&self) -> Vec<String> {
        let commit_sent: HashMap<&str, Instant> = self
            .ends
            .iter()
            .filter(|e| e.told == Told::Committed)
            .map(|e| (e.xid.as_str(), e.first_sent))
            .fold(HashMap::new(), |mut m, (x, t)| {
                let slot = m.entry(x).or_insert(t);
                if t < *slot {
                    *slot = t;
                }
                m
            });
        let mut by_row: BTreeMap<&str, Vec<(Instant, Instant, &str)>> = BTreeMap::new();
        for r in &self.registers {
            let Some(until) = commit_sent.get(r.xid.as_str()) else {
                continue;
            };
            for row in &r.rows {
                by_row
                    .entry(row.as_str())
                    .or_default()
                    .push((r.ack, *until, r.xid.as_str()));
            }
        }
        let mut v = Vec::new();
        for (row, mut held) in by_row {
            held.sort();
            // Merge the intervals of one transaction (it may lock a row twice, re-entrantly).
            let mut merged: Vec<(Instant, Instant, &str)> = Vec::new();
            let mut per_xid: HashMap<&str, (Instant, Instant)> = HashMap::new();
            for (from, to, xid) in held {
                let e = per_xid.entry(xid).or_insert((from, to));
                e.0 = e.0.min(from);
                e.1 = e.1.max(to);
            }
            merged.extend(per_xid.into_iter().map(|(x, (f, t))| (f, t, x)));
            merged.sort();
            let mut latest: Option<(Instant, &str)> = None;
            for (from, to, xid) in merged {
                if let Some((end, other)) = latest {
                    if from < end {
                        v.push(format!(
                            "row {row}: held by {other} and {xid} at once ({:?} overlap)",
                            end - from
                        ));
                    }
                }
                if latest.is_none_or(|(end, _)| to > end) {
                    latest = Some((to, xid));
                }
            }
        }
        v
    }

    /// Acknowledgements from a deposed leader (see the module docs).
    fn fencing_violations(&self) -> Vec<String> {
        // (fragment, epoch) -> every acknowledged write issued under it: (sent, ack, what).
        let mut acks: BTreeMap<(u32, u64), Vec<Acked>> = BTreeMap::new();
        for b in &self.begins {
            if let Some(fe) = xid_epoch(&b.xid) {
                acks.entry(fe)
                    .or_default()
                    .push((b.sent, b.ack, format!("begin {}", b.xid)));
            }
        }
        for r in &self.registers {
            if let Some(fe) = branch_epoch(r.branch) {
                acks.entry(fe).or_default().push((
                    r.sent,
                    r.ack,
                    format!("register {} branch {}", r.xid, r.branch),
                ));
            }
        }
        let mut v = Vec::new();
        // Per fragment, the earliest acknowledgement of each epoch.
        let mut first_ack: BTreeMap<u32, Vec<(u64, Instant)>> = BTreeMap::new();
        for ((f, e), list) in &acks {
            if let Some(t) = list.iter().map(|(_, ack, _)| *ack).min() {
                first_ack.entry(*f).or_default().push((*e, t));
            }
        }
        for ((f, e), list) in &acks {
            // The earliest acknowledgement of any newer epoch of this fragment.
            let Some(newer) = first_ack[f]
                .iter()
                .filter(|(e2, _)| e2 > e)
                .map(|(_, t)| *t)
                .min()
            else {
                continue;
            };
            for (sent, _, what) in list {
                if *sent > newer {
                    v.push(format!(
                        "fragment {f}: epoch {e} acknowledged {what}, sent {:?} after a newer epoch acknowledged",
                        *sent - newer
                    ));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn xid(fragment: u32, epoch: u64, seq: u64) -> String {
        let id = TxId {
            fragment,
            epoch,
            sequence: seq,
        }
        .to_i64()
        .expect("in range");
        format!("127.0.0.1:1:{id}")
    }

    fn branch(fragment: u32, epoch: u64, seq: u64) -> i64 {
        TxId {
            fragment,
            epoch,
            sequence: seq,
        }
        .to_i64()
        .expect("in range")
    }

    /// Two transactions done right: one committed, one rolled back, and one AT row passed
    /// from one committed transaction to the next.
    fn good() -> (History, Instant) {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut h = History::default();
        for (i, x) in [xid(0, 1, 1), xid(0, 1, 2), xid(0, 1, 3)]
            .iter()
            .enumerate()
        {
            let base = 100 * i as u64;
            h.begins.push(Begin {
                xid: x.clone(),
                sent: at(base),
                ack: at(base + 1),
            });
            h.registers.push(Register {
                xid: x.clone(),
                branch: branch(0, 1, 10 + i as u64),
                rows: vec!["acct^^^row1".into()],
                sent: at(base + 2),
                ack: at(base + 3),
            });
            let commit = i != 1;
            h.ends.push(End {
                xid: x.clone(),
                commit,
                first_sent: at(base + 50),
                ack: at(base + 51),
                told: if commit {
                    Told::Committed
                } else {
                    Told::RolledBack
                },
            });
            h.phase2.push(Phase2 {
                xid: x.clone(),
                branch: branch(0, 1, 10 + i as u64),
                commit,
                at: at(base + 52),
            });
            h.finals.insert(x.clone(), Final::Finished);
        }
        (h, t0)
    }

    #[test]
    fn a_good_history_passes() {
        let (h, _) = good();
        assert_eq!(h.check(), Vec::<String>::new());
    }

    fn violations_of(h: &History, needle: &str) -> usize {
        let v = h.check();
        assert!(
            v.iter().any(|m| m.contains(needle)),
            "expected a violation containing {needle:?}, got {v:?}"
        );
        v.len()
    }

    #[test]
    fn reports_a_duplicate_xid() {
        let (mut h, _) = good();
        let b = h.begins[0].clone();
        h.begins.push(b);
        violations_of(&h, "issued twice");
    }

    #[test]
    fn reports_an_acknowledged_commit_that_was_rolled_back() {
        let (mut h, _) = good();
        h.phase2[0].commit = false;
        violations_of(&h, "acknowledged commit, but");
    }

    #[test]
    fn reports_an_acknowledged_rollback_that_committed() {
        let (mut h, _) = good();
        h.phase2[1].commit = true;
        violations_of(&h, "acknowledged rollback, but a branch was committed");
    }

    #[test]
    fn reports_a_half_applied_transaction() {
        let (mut h, t0) = good();
        let mut p = h.phase2[0].clone();
        p.commit = false;
        p.at = t0 + Duration::from_secs(1);
        h.phase2.push(p);
        violations_of(&h, "half applied");
    }

    #[test]
    fn reports_a_lost_branch_and_an_unended_transaction() {
        let (mut h, _) = good();
        h.phase2.remove(2);
        violations_of(&h, "never got its phase two");
        let (mut h, _) = good();
        h.finals
            .insert(h.begins[0].xid.clone(), Final::Open("Begin".into()));
        violations_of(&h, "never ended");
        let (mut h, _) = good();
        h.finals.insert(h.begins[0].xid.clone(), Final::RolledBack);
        violations_of(&h, "final status rolled back");
    }

    #[test]
    fn reports_a_row_held_twice() {
        let (mut h, t0) = good();
        // The third transaction registers the row before the first one sent its commit.
        h.registers[2].ack = t0 + Duration::from_millis(20);
        violations_of(&h, "held by");
        // Row intervals of a rolled-back transaction do not count.
        let (mut h, t0) = good();
        h.registers[1].ack = t0 + Duration::from_millis(20);
        assert_eq!(h.check(), Vec::<String>::new());
    }

    #[test]
    fn reports_a_deposed_leader_that_still_acknowledges() {
        let (mut h, t0) = good();
        // Epoch 2 took fragment 0 over and acknowledged a begin at 150 ms ...
        let x = xid(0, 2, 1);
        h.begins.push(Begin {
            xid: x.clone(),
            sent: t0 + Duration::from_millis(149),
            ack: t0 + Duration::from_millis(150),
        });
        h.finals.insert(x, Final::Finished);
        // ... but epoch 1 acknowledged a registration sent at 202 ms (the third transaction).
        violations_of(&h, "epoch 1 acknowledged register");
    }
}
