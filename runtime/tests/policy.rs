//! Every load-balancing policy on constructed candidates (no network): exact choices and
//! sequences for each selector, filter and preference, composition, and a user-defined
//! selector.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tars::TarsString;

use tars::client::policy::{
    BusinessType, CallInfo, Candidate, CapacityRelative, ConsistentHash, Environment, Filter,
    HealthAtLeast, InSet, LeastActive, LowestAvgTransactionTime, LowestLatency, ModHash, Policy,
    Random, Region, RequireFeatures, RoundRobin, Selector, SmoothWeighted, XidAffinity,
    XID_CONTEXT_KEY,
};
use tars::protocol::tarsrs::{DynamicMeta, HealthStatus, StaticMeta};

mod common;
use common::{candidates, node, plain, Node, NO_CONTEXT};

fn call(hash: Option<u64>) -> CallInfo<'static> {
    CallInfo {
        func: "f",
        hash,
        context: NO_CONTEXT,
    }
}

/// The names chosen by `policy` for `n` calls with `info`.
fn picks(policy: &Policy, nodes: &[Node], n: usize, info: CallInfo<'_>) -> Vec<String> {
    let c = candidates(nodes);
    (0..n)
        .map(|_| {
            let i = policy.choose(&c, &info).expect("a choice");
            c[i].instance.endpoint.host.to_string()
        })
        .collect()
}

fn joined(v: &[impl AsRef<str>]) -> String {
    v.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(" ")
}

#[test]
fn round_robin_cycles() {
    let nodes = plain(&["a", "b", "c"]);
    let p = Policy::new(RoundRobin::new());
    assert_eq!(joined(&picks(&p, &nodes, 6, call(None))), "a b c a b c");
}

#[test]
fn random_is_reproducible_with_a_seed_and_covers_all() {
    let nodes = plain(&["a", "b", "c"]);
    let one = picks(&Policy::new(Random::seeded(7)), &nodes, 300, call(None));
    let two = picks(&Policy::new(Random::seeded(7)), &nodes, 300, call(None));
    assert_eq!(one, two);
    let counts = one.iter().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.clone()).or_insert(0) += 1;
        m
    });
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&c| c > 50), "{counts:?}");
}

#[test]
fn mod_hash_is_hash_modulo_and_round_robin_without_hash() {
    let nodes = plain(&["a", "b", "c"]);
    let p = Policy::new(ModHash::new());
    assert_eq!(picks(&p, &nodes, 3, call(Some(4))), ["b", "b", "b"]);
    assert_eq!(picks(&p, &nodes, 1, call(Some(9)))[0], "a");
    assert_eq!(joined(&picks(&p, &nodes, 3, call(None))), "a b c");
}

#[test]
fn consistent_hash_is_sticky_and_moves_few_keys() {
    let four = plain(&["a", "b", "c", "d"]);
    let p = Policy::new(ConsistentHash::new());
    let before: Vec<String> = (0..1000u64)
        .map(|k| picks(&p, &four, 1, call(Some(k))).remove(0))
        .collect();
    let again: Vec<String> = (0..1000u64)
        .map(|k| picks(&p, &four, 1, call(Some(k))).remove(0))
        .collect();
    assert_eq!(before, again, "same key, same endpoint");
    // Remove d: only d's keys move.
    let three = plain(&["a", "b", "c"]);
    let after: Vec<String> = (0..1000u64)
        .map(|k| picks(&p, &three, 1, call(Some(k))).remove(0))
        .collect();
    for (b, a) in before.iter().zip(&after) {
        if b != "d" {
            assert_eq!(a, b, "a key not on d moved");
        }
    }
}

#[test]
fn smooth_weighted_follows_nginx_sequence() {
    let w = |weight| StaticMeta {
        weight,
        ..StaticMeta::default()
    };
    let nodes = vec![
        node("a", w(5), DynamicMeta::default()),
        node("b", w(1), DynamicMeta::default()),
        node("c", w(1), DynamicMeta::default()),
    ];
    let p = Policy::new(SmoothWeighted::new());
    assert_eq!(
        joined(&picks(&p, &nodes, 14, call(None))),
        "a a b a c a a a a b a c a a"
    );
    // Weight 0 is never chosen.
    let nodes = vec![
        node("a", w(0), DynamicMeta::default()),
        node("b", w(3), DynamicMeta::default()),
    ];
    assert!(picks(&p, &nodes, 10, call(None)).iter().all(|n| n == "b"));
}

#[test]
fn least_active_picks_fewest_in_flight_and_rotates_ties() {
    let nodes = plain(&["a", "b", "c"]);
    for _ in 0..3 {
        nodes[0].stats.start_call();
    }
    nodes[1].stats.start_call();
    let p = Policy::new(LeastActive::new());
    assert_eq!(picks(&p, &nodes, 3, call(None)), ["c", "c", "c"]);
    nodes[2].stats.start_call();
    nodes[2].stats.start_call();
    assert_eq!(picks(&p, &nodes, 1, call(None)), ["b"]);
    // b and c tie at 2 after another call on b... rotate between them.
    nodes[1].stats.start_call();
    nodes[0].stats.end_call();
    let got: BTreeSet<String> = picks(&p, &nodes, 4, call(None)).into_iter().collect();
    assert_eq!(got, ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
}

#[test]
fn capacity_relative_spreads_by_free_slots() {
    let cap = |capacity| StaticMeta {
        capacity,
        ..StaticMeta::default()
    };
    let used = |active_transactions| DynamicMeta {
        active_transactions,
        ..DynamicMeta::default()
    };
    // 10 slots with 5 used (5 free) gets five times the calls of 5 slots with 4 used (1
    // free); unknown capacity gets none while a known one has room. (Before, the best one
    // took every call: tests/policy_metadata.rs has the many-client scenario.)
    let nodes = vec![
        node("small", cap(5), used(4)),
        node("big", cap(10), used(5)),
        node("unknown", cap(0), used(0)),
    ];
    let p = Policy::new(CapacityRelative::seeded(5));
    let got = picks(&p, &nodes, 6000, call(None));
    let n = |name: &str| got.iter().filter(|g| *g == name).count();
    assert_eq!(n("unknown"), 0);
    assert!((4700..=5300).contains(&n("big")), "big {}", n("big"));
    assert_eq!(n("small") + n("big"), 6000);
    let nodes = vec![
        node("full", cap(4), used(9)),
        node("unknown", cap(0), used(0)),
    ];
    assert_eq!(
        picks(&p, &nodes, 1, call(None)),
        ["full"],
        "known (even full) before unknown"
    );
}

#[test]
fn lowest_latency_measures_everyone_first() {
    let nodes = plain(&["a", "b", "c"]);
    nodes[0].stats.record_latency(Duration::from_millis(5));
    let p = Policy::new(LowestLatency::new());
    let first: BTreeSet<String> = picks(&p, &nodes, 2, call(None)).into_iter().collect();
    assert_eq!(first, ["b", "c"].iter().map(|s| s.to_string()).collect());
    nodes[1].stats.record_latency(Duration::from_millis(2));
    nodes[2].stats.record_latency(Duration::from_millis(9));
    assert_eq!(picks(&p, &nodes, 3, call(None)), ["b", "b", "b"]);
    // The average moves with new samples: b gets slow, a becomes the fastest.
    for _ in 0..40 {
        nodes[1].stats.record_latency(Duration::from_millis(50));
    }
    assert_eq!(picks(&p, &nodes, 1, call(None)), ["a"]);
}

#[test]
fn lowest_avg_transaction_time_is_random_until_all_measured() {
    let avg = |ms| DynamicMeta {
        avg_transaction_ms: ms,
        ..DynamicMeta::default()
    };
    let mut nodes = vec![
        node("a", StaticMeta::default(), avg(3.0)),
        node("b", StaticMeta::default(), avg(0.0)),
        node("c", StaticMeta::default(), avg(1.0)),
    ];
    let p = Policy::new(LowestAvgTransactionTime::seeded(11));
    let early = picks(&p, &nodes, 300, call(None));
    let seen: BTreeSet<&String> = early.iter().collect();
    assert_eq!(seen.len(), 3, "random while b has no measurement: {seen:?}");
    assert_eq!(
        early,
        picks(
            &Policy::new(LowestAvgTransactionTime::seeded(11)),
            &nodes,
            300,
            call(None)
        ),
        "seeded"
    );
    nodes[1].instance.load.avg_transaction_ms = 2.0;
    assert!(picks(&p, &nodes, 50, call(None)).iter().all(|n| n == "c"));
}

#[test]
fn xid_affinity_keeps_a_transaction_on_one_endpoint() {
    let nodes = plain(&["a", "b", "c", "d"]);
    let p = Policy::new(XidAffinity::new(RoundRobin::new()));
    let with_xid = |xid: &str| {
        let ctx: BTreeMap<TarsString, TarsString> = [(XID_CONTEXT_KEY.into(), xid.into())].into();
        let info = CallInfo {
            func: "f",
            hash: None,
            context: &ctx,
        };
        picks(&p, &nodes, 1, info).remove(0)
    };
    let first = with_xid("10.0.0.1:8091:42");
    for _ in 0..1000 {
        assert_eq!(with_xid("10.0.0.1:8091:42"), first);
    }
    let spread: BTreeSet<String> = (0..100).map(|i| with_xid(&format!("xid-{i}"))).collect();
    assert!(spread.len() >= 2, "different XIDs spread: {spread:?}");
    // No XID: the inner round-robin.
    assert_eq!(joined(&picks(&p, &nodes, 4, call(None))), "a b c d");
}

#[test]
fn filters_keep_only_matching_instances() {
    let meta = |env: &str, business: &str, features: &[(&str, bool)]| StaticMeta {
        environment: env.into(),
        business_type: business.into(),
        features: features
            .iter()
            .map(|(k, v)| (TarsString::from(*k), *v))
            .collect(),
        ..StaticMeta::default()
    };
    let health = |health| DynamicMeta {
        health,
        ..DynamicMeta::default()
    };
    let mut nodes = vec![
        node(
            "a",
            meta("prod", "pay", &[("v2", true)]),
            health(HealthStatus::HEALTHY),
        ),
        node(
            "b",
            meta("prod", "ads", &[("v2", false)]),
            health(HealthStatus::DEGRADED),
        ),
        node(
            "c",
            meta("staging", "pay", &[("v2", true), ("gpu", true)]),
            health(HealthStatus::UNHEALTHY),
        ),
    ];
    nodes[0].instance.endpoint.set_id = "app.sz.1".into();
    nodes[1].instance.endpoint.set_id = "app.sz.2".into();
    nodes[2].instance.endpoint.set_id = "app.sh.1".into();
    // What the filters alone accept, so UNHEALTHY `c` competes like the others here
    // (policies avoid it by default: tests/policy_metadata.rs).
    let only = |f: Box<dyn Fn(Policy) -> Policy>| -> BTreeSet<String> {
        picks(
            &f(Policy::new(RoundRobin::new()).include_unhealthy()),
            &nodes,
            6,
            call(None),
        )
        .into_iter()
        .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        only(Box::new(|p| p.filter(RequireFeatures::new(["v2"])))),
        set(&["a", "c"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(RequireFeatures::new(["v2", "gpu"])))),
        set(&["c"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(Environment::new("prod")))),
        set(&["a", "b"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(BusinessType::new("pay")))),
        set(&["a", "c"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(HealthAtLeast(HealthStatus::HEALTHY)))),
        set(&["a"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(HealthAtLeast(HealthStatus::DEGRADED)))),
        set(&["a", "b"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(InSet::new("app.sz.2")))),
        set(&["b"])
    );
    assert_eq!(
        only(Box::new(|p| p.filter(InSet::new("app.sz.*")))),
        set(&["a", "b"])
    );
    // Nothing passes: no endpoint at all (a hard filter never falls back).
    let p = Policy::new(RoundRobin::new()).filter(Environment::new("dev"));
    assert_eq!(p.choose(&candidates(&nodes), &call(None)), None);
}

#[test]
fn region_first_prefers_the_region_and_falls_back() {
    let region = |r: &str| StaticMeta {
        region: r.into(),
        ..StaticMeta::default()
    };
    let nodes = vec![
        node("sh1", region("sh"), DynamicMeta::default()),
        node("sz1", region("sz"), DynamicMeta::default()),
        node("sz2", region("sz"), DynamicMeta::default()),
    ];
    let p = Policy::new(RoundRobin::new()).prefer(Region::new("sz"));
    assert_eq!(joined(&picks(&p, &nodes, 4, call(None))), "sz1 sz2 sz1 sz2");
    // The order to try: the region first, then the others (used when those fail).
    let c = candidates(&nodes);
    let order: Vec<&str> = p
        .order(&c, &call(None))
        .iter()
        .map(|&i| c[i].instance.endpoint.host.as_str())
        .collect();
    assert_eq!(order.last(), Some(&"sh1"));
    // No instance in the region: all of them.
    let p = Policy::new(RoundRobin::new()).prefer(Region::new("gz"));
    assert_eq!(joined(&picks(&p, &nodes, 3, call(None))), "sh1 sz1 sz2");
}

#[test]
fn filters_preferences_and_selector_compose() {
    let m = |region: &str, env: &str, weight| StaticMeta {
        region: region.into(),
        environment: env.into(),
        weight,
        ..StaticMeta::default()
    };
    let nodes = vec![
        node("sz-prod-heavy", m("sz", "prod", 3), DynamicMeta::default()),
        node("sz-prod-light", m("sz", "prod", 1), DynamicMeta::default()),
        node(
            "sz-staging",
            m("sz", "staging", 100),
            DynamicMeta::default(),
        ),
        node("sh-prod", m("sh", "prod", 100), DynamicMeta::default()),
    ];
    let p = Policy::new(SmoothWeighted::new())
        .filter(Environment::new("prod"))
        .prefer(Region::new("sz"));
    let got = picks(&p, &nodes, 8, call(None));
    assert_eq!(got.iter().filter(|n| *n == "sz-prod-heavy").count(), 6);
    assert_eq!(got.iter().filter(|n| *n == "sz-prod-light").count(), 2);
}

/// A user-defined selector: always the endpoint with the lowest CPU load.
struct CoolestCpu;

impl Selector for CoolestCpu {
    fn select(&self, candidates: &[Candidate<'_>], _call: &CallInfo<'_>) -> Option<usize> {
        (0..candidates.len()).min_by(|&a, &b| {
            candidates[a]
                .instance
                .load
                .cpu_load
                .total_cmp(&candidates[b].instance.load.cpu_load)
        })
    }
}

/// A user-defined filter: only functions starting with "read" may go to replicas.
struct ReadsToReplicas;

impl Filter for ReadsToReplicas {
    fn accepts(&self, c: &Candidate<'_>, call: &CallInfo<'_>) -> bool {
        call.func.starts_with("read") || !c.instance.endpoint.host.starts_with("replica")
    }
}

#[test]
fn user_defined_selector_and_filter_plug_in() {
    let cpu = |cpu_load| DynamicMeta {
        cpu_load,
        ..DynamicMeta::default()
    };
    let nodes = vec![
        node("primary", StaticMeta::default(), cpu(0.7)),
        node("replica", StaticMeta::default(), cpu(0.1)),
    ];
    let p = Policy::new(CoolestCpu).filter(ReadsToReplicas);
    let read = CallInfo {
        func: "readUser",
        hash: None,
        context: NO_CONTEXT,
    };
    let write = CallInfo {
        func: "updateUser",
        hash: None,
        context: NO_CONTEXT,
    };
    assert_eq!(picks(&p, &nodes, 1, read), ["replica"]);
    assert_eq!(picks(&p, &nodes, 1, write), ["primary"]);
}

/// Proxies of one communicator share its policy; with endpoint ids unique per process each
/// keeps its own smooth-weighted sequence.
#[test]
fn a_shared_policy_keeps_state_per_endpoint() {
    let w = |weight| StaticMeta {
        weight,
        ..StaticMeta::default()
    };
    let first = vec![
        node("a", w(5), DynamicMeta::default()),
        node("b", w(1), DynamicMeta::default()),
        node("c", w(1), DynamicMeta::default()),
    ];
    let second = vec![
        node("x", w(1), DynamicMeta::default()),
        node("y", w(2), DynamicMeta::default()),
    ];
    let (mut c1, mut c2) = (candidates(&first), candidates(&second));
    for (i, cand) in c1.iter_mut().enumerate() {
        cand.id = 100 + i as u64;
    }
    for (i, cand) in c2.iter_mut().enumerate() {
        cand.id = 200 + i as u64;
    }
    let p = Policy::new(SmoothWeighted::new());
    let (mut s1, mut s2) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        s1.push(
            c1[p.choose(&c1, &call(None)).unwrap()]
                .instance
                .endpoint
                .host
                .clone(),
        );
        s2.push(
            c2[p.choose(&c2, &call(None)).unwrap()]
                .instance
                .endpoint
                .host
                .clone(),
        );
    }
    assert_eq!(joined(&s1), "a a b a c a a");
    assert_eq!(joined(&s2), "y x y y x y y");
}
