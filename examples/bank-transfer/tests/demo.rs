//! The bank-transfer demo in one process (tarsd node, two account services registered with
//! it, the TM), 127.0.0.1 only, with every kind of injected failure: the invariants are
//! checked here from the raw balances and ledger entries, independently of the demo's own
//! check.

use std::time::{Duration, Instant};

use tars_example_bank_transfer::demo::{run_demo, DemoConfig};
use tars_example_bank_transfer::transfer::{Outcome, Plan};
use tars_example_bank_transfer::Bank::{Entry, EntryKind, EntryState};

const INITIAL: i64 = 100_000;

fn config(plan: Plan) -> DemoConfig {
    DemoConfig {
        plan: Plan {
            settle_timeout: Duration::from_secs(20),
            ..plan
        },
        initial_balance: INITIAL,
        data_dir: None,
    }
}

#[test]
fn transfers_with_injected_failures_conserve_money_and_settle() {
    let started = Instant::now();
    let plan = Plan {
        transfers: 120,
        concurrency: 4,
        fail_credit_every: 7,
        crash_tm_every: 11,
        fail_confirm_every: 5,
        late_try_every: 60,
        late_try_delay: Duration::from_millis(1000),
        ..Plan::default()
    };
    let summary = run_demo(&config(plan.clone())).expect("the demo runs");
    println!("{summary}");
    assert!(summary.is_ok(), "{summary}");
    assert_eq!(summary.transfers.len(), 120);
    assert_eq!(summary.unknown(), 0);

    // Each transfer ended as its faults say.
    let expected_rollbacks = (1..=120)
        .filter(|&i| plan.injection(i).must_roll_back())
        .count();
    assert_eq!(summary.count(&Outcome::RolledBack), expected_rollbacks);
    assert_eq!(summary.count(&Outcome::Committed), 120 - expected_rollbacks);

    // Committed transfers moved exactly their amount; rolled-back ones changed nothing.
    let mut moved = 0;
    for t in &summary.transfers {
        let confirmed = |entries: &[Entry], kind| {
            entries
                .iter()
                .filter(|e| e.state == EntryState::CONFIRMED && e.kind == kind)
                .map(|e| e.amount)
                .collect::<Vec<_>>()
        };
        let all = t.at_a.iter().chain(&t.at_b);
        match t.outcome {
            Outcome::Committed => {
                assert_eq!(confirmed(&t.at_a, EntryKind::DEBIT), [t.amount], "{t:?}");
                assert_eq!(confirmed(&t.at_b, EntryKind::CREDIT), [t.amount], "{t:?}");
                assert_eq!((t.at_a.len(), t.at_b.len()), (1, 1), "{t:?}");
                moved += t.amount;
            }
            Outcome::RolledBack => {
                assert!(
                    all.clone().all(|e| e.state == EntryState::CANCELLED),
                    "{t:?}"
                );
                if t.injection.fail_credit && !t.injection.late_try {
                    // The failed try had reserved: its branch was kept and cancelled.
                    assert!(
                        t.at_b.iter().any(|e| !e.empty_rollback),
                        "the failed tryCredit's reservation was cancelled: {t:?}"
                    );
                }
            }
            Outcome::Unknown(_) => unreachable!(),
        }
        // No entry pending in any case.
        assert!(all.clone().all(|e| e.state != EntryState::TRIED), "{t:?}");
    }

    // Balances add up, nothing is left frozen.
    let ((a0, b0), (a1, b1)) = (&summary.before, &summary.after);
    assert_eq!((a0.balance, b0.balance), (INITIAL, INITIAL));
    assert_eq!(a1.balance, INITIAL - moved);
    assert_eq!(b1.balance, INITIAL + moved);
    assert_eq!(a1.balance + b1.balance, 2 * INITIAL);
    assert_eq!(
        (a1.frozen, a1.incoming, b1.frozen, b1.incoming),
        (0, 0, 0, 0)
    );

    // The late tries (transfers 60 and 120): cancelled before they ran, then refused.
    assert_eq!(summary.late_tries_refused, 2, "{summary}");
    assert!(summary.empty_rollbacks >= 2, "{summary}");
    for i in [60, 120] {
        let t = &summary.transfers[i - 1];
        assert_eq!(t.outcome, Outcome::RolledBack);
        assert!(
            t.at_a
                .iter()
                .any(|e| e.empty_rollback && e.late_try_refused),
            "{t:?}"
        );
        assert!(t.at_b.is_empty(), "tryCredit never ran: {t:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn without_faults_every_transfer_commits() {
    let summary = run_demo(&config(Plan {
        transfers: 30,
        concurrency: 3,
        ..Plan::default()
    }))
    .expect("the demo runs");
    assert!(summary.is_ok(), "{summary}");
    assert_eq!(summary.count(&Outcome::Committed), 30);
    let moved: i64 = summary.transfers.iter().map(|t| t.amount).sum();
    assert_eq!(summary.after.0.balance, INITIAL - moved);
    assert_eq!(summary.after.1.balance, INITIAL + moved);
}

#[test]
fn insufficient_funds_refuse_the_debit_without_leaving_anything() {
    // A holds 100: transfers of 1..=100 soon exceed it. Refused debits are reported
    // PhaseOne_Failed (the opt-in): the coordinator drops their branches, nothing to cancel.
    let mut config = config(Plan {
        transfers: 12,
        concurrency: 1,
        ..Plan::default()
    });
    config.initial_balance = 100;
    let summary = run_demo(&config).expect("the demo runs");
    // Rolled back without an injected fault: the demo's own check flags those.
    assert!(summary
        .violations
        .iter()
        .all(|v| v.starts_with("rolled back without a fault")));
    let refused: Vec<_> = summary
        .transfers
        .iter()
        .filter(|t| t.outcome == Outcome::RolledBack)
        .collect();
    assert!(!refused.is_empty(), "{summary}");
    for t in &refused {
        assert!(
            t.error
                .as_deref()
                .unwrap_or("")
                .contains("insufficient funds"),
            "{t:?}"
        );
        assert!(t.at_a.is_empty() && t.at_b.is_empty(), "{t:?}");
    }
    let (a, b) = &summary.after;
    assert!(a.balance >= 0);
    assert_eq!(a.balance + b.balance, 200);
    assert_eq!((a.frozen, b.incoming), (0, 0));
}
