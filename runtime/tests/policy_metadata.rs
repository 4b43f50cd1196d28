//! The metadata-aware policies against the scenarios of issue #13, on constructed candidates
//! (no network): UNHEALTHY instances are avoided by default, `CapacityRelative` spreads many
//! clients with the same stale metadata in proportion to free slots, `LowestLatency` measures
//! again an endpoint it stopped choosing, and `LeastActive` follows calls in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tars::client::policy::{
    is_unhealthy, CallInfo, CapacityRelative, Environment, LeastActive, LowestLatency, Policy,
    Random, Region, RoundRobin, SmoothWeighted, EXPLORE_EVERY, LATENCY_TTL, LATENCY_WINDOW,
};
use tars::protocol::tarsrs::{DynamicMeta, HealthStatus, StaticMeta};

mod common;
use common::{candidates, node, plain, Node, NO_CONTEXT};

fn with_health(name: &str, health: HealthStatus) -> Node {
    node(
        name,
        StaticMeta::default(),
        DynamicMeta {
            health,
            ..DynamicMeta::default()
        },
    )
}

fn call() -> CallInfo<'static> {
    CallInfo {
        func: "f",
        hash: None,
        context: NO_CONTEXT,
    }
}

fn name(nodes: &[Node], i: usize) -> String {
    nodes[i].instance.endpoint.host.to_string()
}

/// How many of `n` calls `policy` sends to each endpoint (by name).
fn tally(policy: &Policy, nodes: &[Node], n: usize) -> BTreeMap<String, usize> {
    let c = candidates(nodes);
    let mut t = BTreeMap::new();
    for _ in 0..n {
        let i = policy.choose(&c, &call()).expect("a choice");
        *t.entry(name(nodes, i)).or_insert(0) += 1;
    }
    t
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- UNHEALTHY instances ----------------------------------------------------------------

/// The design's scenario: three instances, one UNHEALTHY. No built-in selector sends it a
/// call while the others are there (before, the default round-robin sent it a third).
#[test]
fn unhealthy_instances_are_avoided_by_every_policy() {
    let nodes = vec![
        with_health("a", HealthStatus::HEALTHY),
        with_health("b", HealthStatus::DEGRADED),
        with_health("c", HealthStatus::UNHEALTHY),
    ];
    let policies: Vec<(&str, Policy)> = vec![
        ("default", Policy::default()),
        ("round-robin", Policy::new(RoundRobin::new())),
        ("random", Policy::new(Random::seeded(3))),
        ("weighted", Policy::new(SmoothWeighted::new())),
        ("least-active", Policy::new(LeastActive::new())),
        ("capacity", Policy::new(CapacityRelative::seeded(3))),
        ("latency", Policy::new(LowestLatency::new())),
    ];
    for (what, p) in &policies {
        assert!(p.avoids_unhealthy(), "{what}");
        let t = tally(p, &nodes, 300);
        assert_eq!(t.get("c"), None, "{what}: {t:?}");
        assert_eq!(
            t.keys().cloned().collect::<BTreeSet<_>>(),
            names(&["a", "b"]),
            "{what}: the healthy and degraded ones share the calls"
        );
    }
    let t = tally(&Policy::default(), &nodes, 300);
    assert_eq!((t["a"], t["b"]), (150, 150));

    // The order to try (retries after a failure): the unhealthy one last.
    let c = candidates(&nodes);
    let order = Policy::default().order(&c, &call());
    assert_eq!(order.len(), 3);
    assert_eq!(name(&nodes, order[2]), "c");

    // Opt-out: the unhealthy one is an ordinary candidate again.
    let p = Policy::default().include_unhealthy();
    assert!(!p.avoids_unhealthy());
    let t = tally(&p, &nodes, 300);
    assert_eq!((t["a"], t["b"], t["c"]), (100, 100, 100));
}

#[test]
fn unhealthy_instances_are_the_fallback_when_nothing_else_is_left() {
    let mut nodes = vec![
        with_health("a", HealthStatus::UNHEALTHY),
        with_health("b", HealthStatus::UNHEALTHY),
    ];
    // All unhealthy: calls still go somewhere, spread as usual.
    let t = tally(&Policy::default(), &nodes, 10);
    assert_eq!((t["a"], t["b"]), (5, 5));

    // A healthy instance removed by a hard filter does not count as "something left".
    nodes.push(with_health("c", HealthStatus::HEALTHY));
    nodes[0].instance.meta.environment = "prod".into();
    nodes[1].instance.meta.environment = "prod".into();
    nodes[2].instance.meta.environment = "staging".into();
    let p = Policy::default().filter(Environment::new("prod"));
    let t = tally(&p, &nodes, 10);
    assert_eq!((t["a"], t["b"]), (5, 5), "{t:?}");
    // Without the filter the healthy one takes every call.
    assert_eq!(tally(&Policy::default(), &nodes, 10)["c"], 10);
}

/// Health comes before the preferences: a healthy instance in another region beats an
/// unhealthy one in the preferred region; among the healthy ones the preference still holds.
#[test]
fn health_comes_before_preferences() {
    let at = |n: &str, region: &str, health| {
        node(
            n,
            StaticMeta {
                region: region.into(),
                ..StaticMeta::default()
            },
            DynamicMeta {
                health,
                ..DynamicMeta::default()
            },
        )
    };
    let nodes = vec![
        at("sz-sick", "sz", HealthStatus::UNHEALTHY),
        at("sh-ok", "sh", HealthStatus::HEALTHY),
        at("gz-ok", "gz", HealthStatus::HEALTHY),
    ];
    let p = Policy::new(RoundRobin::new()).prefer(Region::new("sz"));
    let t = tally(&p, &nodes, 10);
    assert_eq!(t.get("sz-sick"), None, "{t:?}");
    let p = Policy::new(RoundRobin::new()).prefer(Region::new("gz"));
    assert_eq!(tally(&p, &nodes, 10)["gz-ok"], 10);
    // Order: preferred, then the other healthy ones, then the unhealthy one.
    let c = candidates(&nodes);
    let order: Vec<String> = p
        .order(&c, &call())
        .into_iter()
        .map(|i| name(&nodes, i))
        .collect();
    assert_eq!(order, ["gz-ok", "sh-ok", "sz-sick"]);
}

#[test]
fn health_values_from_a_newer_idl_below_unhealthy_count_as_unhealthy() {
    let h = |health| with_health("x", health).instance;
    assert!(!is_unhealthy(&h(HealthStatus::HEALTHY)));
    assert!(!is_unhealthy(&h(HealthStatus::DEGRADED)));
    assert!(is_unhealthy(&h(HealthStatus::UNHEALTHY)));
    assert!(is_unhealthy(&h(HealthStatus::Unrecognized(3))));
}

// ---- CapacityRelative -------------------------------------------------------------------

fn with_capacity(name: &str, capacity: i32, active_transactions: i32) -> Node {
    node(
        name,
        StaticMeta {
            capacity,
            ..StaticMeta::default()
        },
        DynamicMeta {
            active_transactions,
            ..DynamicMeta::default()
        },
    )
}

/// Free slots: a 500, b 300, c 200 (1000 in all), `full` none, `unknown` has no capacity.
/// Picking the best free share, as `CapacityRelative` did, would send every call of every
/// client to c (share 1.0): 1000 calls on 200 free slots.
fn fleet() -> Vec<Node> {
    vec![
        with_capacity("a", 800, 300),
        with_capacity("b", 400, 100),
        with_capacity("c", 200, 0),
        with_capacity("full", 300, 300),
        with_capacity("unknown", 0, 0),
    ]
}

const FREE: [(&str, f64); 3] = [("a", 500.0), ("b", 300.0), ("c", 200.0)];

/// Ten clients (independent policies, seeds 1..=10) with the same stale metadata place
/// `calls_each` calls; the calls each instance received.
fn ten_clients(nodes: &[Node], calls_each: usize, seed_base: u64) -> BTreeMap<String, usize> {
    let mut total = BTreeMap::new();
    for client in 1..=10 {
        let p = Policy::new(CapacityRelative::seeded(seed_base + client));
        for (n, count) in tally(&p, nodes, calls_each) {
            *total.entry(n).or_insert(0) += count;
        }
    }
    total
}

/// The herd scenario: ten clients, stale metadata (nothing refreshes during the test), as
/// many calls in all as there are free slots (1000). Each instance's expected share is
/// exactly its free slots; the bound checked is that none receives more than 120% of its
/// free slots (for c, the smallest, 120% is 3.2 standard deviations of its binomial count
/// above the expectation; for a and b the margin is wider), the full instance and the one
/// without a capacity none. Checked for five different sets of client seeds.
#[test]
fn ten_clients_with_stale_data_do_not_push_an_instance_past_its_capacity() {
    let nodes = fleet();
    for seed_base in [0, 100, 200, 300, 400] {
        let got = ten_clients(&nodes, 100, seed_base);
        assert_eq!(got.get("full"), None, "{got:?}");
        assert_eq!(got.get("unknown"), None, "{got:?}");
        for (n, free) in FREE {
            let count = got.get(n).copied().unwrap_or(0) as f64;
            assert!(
                count <= free * 1.2,
                "seeds {seed_base}: {n} got {count} calls for {free} free slots: {got:?}"
            );
        }
    }
}

/// Over many calls the shares are those of the free slots (50%, 30%, 20%) to within one
/// percentage point (more than 6 standard deviations at 100,000 calls).
#[test]
fn capacity_relative_shares_follow_free_slots() {
    let nodes = fleet();
    let got = ten_clients(&nodes, 10_000, 1000);
    let total: usize = got.values().sum();
    assert_eq!(total, 100_000);
    for (n, free) in FREE {
        let share = got[n] as f64 / total as f64;
        let want = free / 1000.0;
        assert!((share - want).abs() < 0.01, "{n}: {share} vs {want}");
    }
}

/// Unseeded selectors of different clients do not choose in step.
#[test]
fn capacity_relative_clients_choose_independently() {
    let nodes = fleet();
    let c = candidates(&nodes);
    let seq = |p: &Policy| -> Vec<usize> {
        (0..64)
            .map(|_| p.choose(&c, &call()).expect("a choice"))
            .collect()
    };
    let one = seq(&Policy::new(CapacityRelative::new()));
    let two = seq(&Policy::new(CapacityRelative::new()));
    assert_ne!(one, two);
}

// ---- LowestLatency ----------------------------------------------------------------------

/// Sequential calls through `p`: each chosen endpoint answers in `truth[i]`, recorded as the
/// transport records it. Returns the chosen names.
fn run_latency(p: &Policy, nodes: &[Node], truth: &[u64], calls: usize) -> Vec<String> {
    let c = candidates(nodes);
    (0..calls)
        .map(|_| {
            let i = p.choose(&c, &call()).expect("a choice");
            nodes[i].stats.start_call();
            nodes[i]
                .stats
                .record_latency(Duration::from_millis(truth[i]));
            nodes[i].stats.end_call();
            name(nodes, i)
        })
        .collect()
}

fn count(v: &[String], n: &str) -> usize {
    v.iter().filter(|x| *x == n).count()
}

/// The design's scenario: `a` is slow (40 ms) and avoided, then becomes fast (1 ms) while `b`
/// stays at 5 ms. Exploration keeps measuring `a` while it is slow (one call in 16), and once
/// fast it is the fastest again within `LATENCY_WINDOW × EXPLORE_EVERY` = 64 calls, after
/// which it gets 15 calls in 16. Without exploration (the old behaviour) it never gets a
/// call again.
#[test]
fn lowest_latency_wins_back_an_endpoint_that_became_fast() {
    assert_eq!((EXPLORE_EVERY, LATENCY_WINDOW), (16, 4));
    let nodes = plain(&["a", "b"]);
    let p = Policy::new(LowestLatency::new());
    let slow = run_latency(&p, &nodes, &[40, 5], 320);
    // Both measured first, then a only through exploration: 1 in 16.
    let slow_a = count(&slow[2..], "a");
    assert!(
        (19..=21).contains(&slow_a),
        "a got {slow_a} of 318 while slow"
    );

    let fast = run_latency(&p, &nodes, &[1, 5], 64 + 160);
    let back = fast
        .windows(2)
        .position(|w| w[0] == "a" && w[1] == "a")
        .expect("a chosen twice in a row");
    assert!(back < 64, "a won back only after {back} calls: {fast:?}");
    let after = &fast[64..];
    assert_eq!(count(after, "a"), 150, "15 in 16: {after:?}");

    // The same without exploration or aging: once avoided, always avoided.
    let nodes = plain(&["a", "b"]);
    let p = Policy::new(LowestLatency::with_exploration(0, Duration::MAX));
    run_latency(&p, &nodes, &[40, 5], 100);
    let fast = run_latency(&p, &nodes, &[1, 5], 600);
    assert_eq!(count(&fast, "a"), 0);
}

/// With three endpoints the two that are not the fastest take turns being explored, and an
/// endpoint with a call in flight is not explored (its call will bring a sample).
#[test]
fn lowest_latency_explores_the_least_recently_measured() {
    let nodes = plain(&["a", "b", "c"]);
    let p = Policy::new(LowestLatency::new());
    let got = run_latency(&p, &nodes, &[2, 30, 40], 3 + 16 * 20);
    let explored = &got[3..];
    assert_eq!(count(explored, "b"), 10);
    assert_eq!(count(explored, "c"), 10);

    // b has a call in flight: the next exploration goes to c, the other one, even when b
    // was measured less recently.
    let nodes = plain(&["a", "b", "c"]);
    let p = Policy::new(LowestLatency::new());
    run_latency(&p, &nodes, &[2, 30, 40], 3);
    nodes[1].stats.start_call();
    let got = run_latency(&p, &nodes, &[2, 30, 40], 32);
    assert_eq!(count(&got, "b"), 0, "{got:?}");
    assert_eq!(count(&got, "c"), 2, "{got:?}");
}

/// A measurement older than `LATENCY_TTL` counts as none: the endpoint is tried at once,
/// whatever the exploration counter says, and the new sample replaces the old ones.
#[test]
fn lowest_latency_retries_an_endpoint_whose_samples_are_stale() {
    let nodes = plain(&["a", "b"]);
    let long_ago = Instant::now()
        .checked_sub(LATENCY_TTL * 2)
        .expect("an instant in the past");
    for _ in 0..LATENCY_WINDOW {
        nodes[0]
            .stats
            .record_latency_at(Duration::from_millis(400), long_ago);
    }
    nodes[1].stats.record_latency(Duration::from_millis(5));
    let p = Policy::new(LowestLatency::new());
    let got = run_latency(&p, &nodes, &[1, 5], 10);
    assert_eq!(got[0], "a", "stale, so tried first");
    assert_eq!(count(&got, "a"), 10, "and its old samples are forgotten");
}

/// Endpoints without a current measurement are probed one call at a time: while a probe is
/// in flight, concurrent calls do not pile onto the same endpoint.
#[test]
fn lowest_latency_probes_one_call_at_a_time() {
    let long_ago = Instant::now()
        .checked_sub(LATENCY_TTL * 2)
        .expect("an instant in the past");
    let p = Policy::new(LowestLatency::new());
    // Never measured, probe in flight: the measured endpoint serves meanwhile.
    let nodes = plain(&["new", "known"]);
    nodes[1].stats.record_latency(Duration::from_millis(5));
    nodes[0].stats.start_call();
    assert_eq!(count(&run_latency(&p, &nodes, &[1, 5], 5), "known"), 5);
    // Stale, probe in flight: ranked by its old latency.
    let nodes = plain(&["stale", "known"]);
    nodes[0]
        .stats
        .record_latency_at(Duration::from_millis(400), long_ago);
    nodes[1].stats.record_latency(Duration::from_millis(5));
    nodes[0].stats.start_call();
    assert_eq!(count(&run_latency(&p, &nodes, &[1, 5], 5), "known"), 5);
    let nodes = plain(&["stale", "known"]);
    nodes[0]
        .stats
        .record_latency_at(Duration::from_millis(1), long_ago);
    nodes[1].stats.record_latency(Duration::from_millis(5));
    nodes[0].stats.start_call();
    let c = candidates(&nodes);
    assert_eq!(
        p.choose(&c, &call()).map(|i| name(&nodes, i)),
        Some("stale".into())
    );
}

// ---- LeastActive ------------------------------------------------------------------------

/// A closed-loop simulation on a tick clock: `clients` calls are always outstanding; `fast`
/// answers in 1 tick, `slow` in 4. Each call is placed through the policy, counted with
/// `start_call` and ended with `end_call` when it is answered, as the transport does. Returns
/// calls per endpoint, and checks at each choice that least-active chose a candidate with the
/// fewest calls in flight.
fn simulate(p: &Policy, check_least: bool) -> (usize, usize) {
    let nodes = plain(&["fast", "slow"]);
    let service = [1u64, 4];
    let c = candidates(&nodes);
    let clients = 8;
    let mut pending: Vec<(u64, usize)> = Vec::new(); // (answer tick, endpoint)
    let mut calls = [0usize; 2];
    for tick in 0..400u64 {
        pending.retain(|&(at, i)| {
            if at <= tick {
                nodes[i].stats.end_call();
            }
            at > tick
        });
        while pending.len() < clients {
            let i = p.choose(&c, &call()).expect("a choice");
            if check_least {
                let least = nodes.iter().map(|n| n.stats.in_flight()).min();
                assert_eq!(Some(nodes[i].stats.in_flight()), least, "tick {tick}");
            }
            nodes[i].stats.start_call();
            calls[i] += 1;
            pending.push((tick + service[i], i));
        }
    }
    let in_flight: u32 = nodes.iter().map(|n| n.stats.in_flight()).sum();
    assert_eq!(in_flight as usize, clients);
    (calls[0], calls[1])
}

/// Least-active keeps the calls in flight level, so the endpoint that answers 4x faster
/// serves about 4x the calls; round-robin on the same load splits them evenly (and piles
/// calls up on the slow one).
#[test]
fn least_active_sends_more_calls_to_the_endpoint_that_answers_sooner() {
    let (fast, slow) = simulate(&Policy::new(LeastActive::new()), true);
    assert!(fast >= 3 * slow, "least-active: fast {fast}, slow {slow}");
    let (fast, slow) = simulate(&Policy::new(RoundRobin::new()), false);
    assert!(
        fast.abs_diff(slow) <= 1,
        "round-robin: fast {fast}, slow {slow}"
    );
}
