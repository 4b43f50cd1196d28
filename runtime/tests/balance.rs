//! Endpoint selection and shielding against real servers on 127.0.0.1.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars::client::{CallOptions, Communicator, Selection, ServantProxy, ShieldConfig};
use tars::server::Server;
use tars_test_support::servants::who;
use tars_test_support::{one_servant, serve, serve_one, Gate, Who};

const OBJ: &str = "Test.Balance.WhoObj";

/// `n` servers of a [`Who`] named `s0`, `s1`, ...
fn servers(n: usize) -> Vec<(Server, u16)> {
    (0..n)
        .map(|i| serve_one(OBJ, Arc::new(Who::new(format!("s{i}")))))
        .collect()
}

/// [`servers`] whose `slow` calls wait for `gate`, with two business threads each (a held
/// call does not block the other calls to its server).
fn gated_servers(n: usize, gate: &Arc<Gate>) -> Vec<(Server, u16)> {
    (0..n)
        .map(|i| {
            let who = Who::gated(format!("s{i}"), gate.clone());
            serve(one_servant(OBJ, Arc::new(who)), 2)
        })
        .collect()
}

fn proxy(c: Communicator, eps: &[String]) -> ServantProxy {
    c.string_to_proxy(&format!("{OBJ}@{}", eps.join(":")))
        .unwrap()
}

fn ep(port: u16, extra: &str) -> String {
    format!("tcp -h 127.0.0.1 -p {port} -t 1000{extra}")
}

fn tally(
    p: &ServantProxy,
    calls: usize,
    opts: impl Fn(usize) -> CallOptions,
) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for i in 0..calls {
        *t.entry(who(p, &opts(i)).unwrap()).or_insert(0) += 1;
    }
    t
}

#[test]
fn round_robin_weighted_and_mod_hash() {
    let s = servers(3);
    let eps: Vec<String> = s.iter().map(|(_, p)| ep(*p, "")).collect();
    let rr = proxy(Communicator::new(), &eps);
    assert_eq!(
        tally(&rr, 9, |_| CallOptions::new())
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );

    let weighted: Vec<String> = s
        .iter()
        .zip([1, 2, 3])
        .map(|((_, p), w)| ep(*p, &format!(" -w {w} -v 1")))
        .collect();
    let wp = proxy(
        Communicator::new().with_selection(Selection::Weighted),
        &weighted,
    );
    let t = tally(&wp, 60, |_| CallOptions::new());
    assert_eq!(
        (t["s0"], t["s1"], t["s2"]),
        (10, 20, 30),
        "smooth weighted round-robin is exact"
    );

    let mh = proxy(Communicator::new().with_selection(Selection::ModHash), &eps);
    for h in 0..12u64 {
        assert_eq!(
            who(&mh, &CallOptions::new().hash(h)).unwrap(),
            format!("s{}", h % 3)
        );
    }
    // The routekey's grid key also selects, consistently.
    let a = who(
        &mh,
        &CallOptions::new().status(tars::packet::status_key::GRID_KEY, "user-42"),
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            who(
                &mh,
                &CallOptions::new().status(tars::packet::status_key::GRID_KEY, "user-42")
            )
            .unwrap(),
            a
        );
    }
    for (server, _) in s {
        server.shutdown();
    }
}

#[test]
fn consistent_hash_is_stable_and_moves_few_keys() {
    let s = servers(3);
    let eps: Vec<String> = s.iter().map(|(_, p)| ep(*p, "")).collect();
    let ch = proxy(
        Communicator::new().with_selection(Selection::ConsistentHash),
        &eps,
    );
    let before: Vec<String> = (0..300u64)
        .map(|h| who(&ch, &CallOptions::new().hash(h)).unwrap())
        .collect();
    let t = before.iter().fold(BTreeMap::new(), |mut m, w| {
        *m.entry(w.clone()).or_insert(0) += 1;
        m
    });
    assert_eq!(t.len(), 3, "every endpoint gets keys: {t:?}");
    assert!(
        t.values().all(|&n| n > 40),
        "keys spread over the ring: {t:?}"
    );
    // Same key, same endpoint.
    for h in 0..50u64 {
        assert_eq!(
            who(&ch, &CallOptions::new().hash(h)).unwrap(),
            before[h as usize]
        );
    }
    // Without s2, only s2's keys move.
    let two = proxy(
        Communicator::new().with_selection(Selection::ConsistentHash),
        &eps[..2],
    );
    for h in 0..300u64 {
        let now = who(&two, &CallOptions::new().hash(h)).unwrap();
        if before[h as usize] != "s2" {
            assert_eq!(
                now, before[h as usize],
                "key {h} moved although its endpoint stayed"
            );
        }
    }
    for (server, _) in s {
        server.shutdown();
    }
}

#[test]
fn failing_endpoints_are_shielded_and_retried_later() {
    // An endpoint that accepts and drops every connection: calls sent to it fail.
    let bad = TcpListener::bind("127.0.0.1:0").unwrap();
    let bad_port = bad.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in bad.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let s = servers(1);
    let eps = vec![ep(bad_port, ""), ep(s[0].1, "")];
    // The calls between a shielding and the checks below must all fit in `retry_after`: a
    // few milliseconds normally; 3 s leaves room for a loaded machine.
    let retry_after = Duration::from_secs(3);
    let shield = ShieldConfig {
        failures_to_shield: 2,
        retry_after,
    };
    let p = proxy(Communicator::new().with_shielding(shield), &eps);
    let mut errors = 0;
    for _ in 0..20 {
        match who(&p, &CallOptions::new().timeout(Duration::from_millis(500))) {
            Ok(w) => assert_eq!(w, "s0"),
            Err(_) => errors += 1,
        }
    }
    assert_eq!(
        errors, 2,
        "two failures shield the bad endpoint; the rest go to the good one"
    );
    let seen = accepted.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(who(&p, &CallOptions::new()).unwrap(), "s0");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        seen,
        "no traffic to a shielded endpoint"
    );
    // A sleep lasts at least as long as asked: the interval is over after it.
    std::thread::sleep(retry_after + Duration::from_millis(100));
    let mut trial_errors = 0;
    for _ in 0..4 {
        if who(&p, &CallOptions::new().timeout(Duration::from_millis(500))).is_err() {
            trial_errors += 1;
        }
    }
    assert_eq!(
        trial_errors, 1,
        "after the interval one trial call goes to the bad endpoint, then it is shielded again"
    );
    assert!(accepted.load(Ordering::SeqCst) > seen);
    for (server, _) in s {
        server.shutdown();
    }
}

/// Least-active counts this client's calls in flight per endpoint: a call that has not been
/// answered keeps traffic away from its endpoint — also when its future was dropped, since
/// the server still works on it — and the count drops when the reply arrives. The held calls wait for a gate the test opens
/// (not for a fixed time), so they are in flight for as long as the checks take.
#[test]
fn least_active_follows_calls_in_flight() {
    let gate = Gate::new();
    let s = gated_servers(2, &gate);
    let _open_at_end = gate.open_on_drop();
    let eps: Vec<String> = s.iter().map(|(_, p)| ep(*p, "")).collect();
    let comm = Communicator::new().with_policy(tars::client::Policy::new(
        tars::client::policy::LeastActive::new(),
    ));
    let p = proxy(comm, &eps);
    // Held until the gate opens; 60 s bounds a test that fails before opening it.
    let held = || {
        let mut w = p.param_writer();
        w.write(1, "ms", &60_000i32);
        p.invoke_async(
            "slow",
            w,
            &CallOptions::new().timeout(Duration::from_secs(90)),
        )
    };
    let opts = CallOptions::new();

    // One held call in flight: every quick call goes to the other endpoint.
    let pending = held();
    let quick: Vec<String> = (0..6).map(|_| who(&p, &opts).unwrap()).collect();
    assert!(quick.iter().all(|n| *n == quick[0]), "{quick:?}");
    let busy = if quick[0] == "s0" { "s1" } else { "s0" };
    gate.open();
    let answered = tars::client::block_on(pending).unwrap();
    assert_eq!(answered.reader().read_return::<String>().unwrap(), busy);
    // Answered: both are idle again, ties rotate.
    let after: std::collections::BTreeSet<String> =
        (0..4).map(|_| who(&p, &opts).unwrap()).collect();
    assert_eq!(after.len(), 2, "{after:?}");

    // A call whose future is dropped is still in flight: its server holds it, so it keeps
    // counting until the net thread sees its reply (or its deadline), not until the caller
    // loses interest.
    gate.close();
    drop(held());
    let during: Vec<String> = (0..6).map(|_| who(&p, &opts).unwrap()).collect();
    assert!(
        during.iter().all(|n| *n == during[0]),
        "a dropped call in flight no longer counted: {during:?}"
    );
    gate.open();
    // Its reply ends it: both endpoints are chosen again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        seen.insert(who(&p, &opts).unwrap());
    }
    assert_eq!(seen.len(), 2, "the answered call still counted: {seen:?}");
    for (server, _) in s {
        server.shutdown();
    }
}
