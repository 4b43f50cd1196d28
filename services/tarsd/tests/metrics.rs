//! The node's `/metrics` (`[metrics] port`): scraped over HTTP from a live node holding open
//! transactions, registered instances (active and inactive) and call statistics of the last
//! complete minute, parsed with a Prometheus text parser (`prometheus-parse`), every value
//! equal to the node's own state.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_parse::{HistogramCount, Scrape, Value};
use tars::client::Communicator;
use tars::protocol::tars::{
    StatMicMsgBody, StatMicMsgHead, StatPropInfo, StatPropMsgBody, StatPropMsgHead,
};
use tars_coordinator::service::COORDINATOR_OBJ;
use tars_metrics::scrape::http_get;
use tars_protocols::tarsrs::InstanceFilter;
use tars_protocols::tarstx::{CoordinatorProxy, GlobalStatus, ResultCode};
use tars_stat::now_minute;
use tars_test_support::{instance, proxy_string, wait_until};
use tarsd::{Node, NodeConfig};

fn node(dir: &std::path::Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.registry.heartbeat_timeout_ms = 300;
    config.coordinator.port = 0;
    config.stat.flush_interval_ms = 50;
    config.metrics.port = Some(0);
    Node::start(&config).expect("node")
}

fn scrape(node: &Node) -> Scrape {
    let addr = node.metrics_addr().expect("[metrics] port set");
    let answer = http_get(addr, "/metrics", Duration::from_secs(5)).expect("GET /metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    Scrape::parse(answer.body.lines().map(|l| Ok(l.to_owned()))).expect("a valid exposition")
}

fn sample<'a>(
    scrape: &'a Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Sample> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    sample(scrape, metric, labels).and_then(|s| match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    })
}

/// A client-side report of `Test.HelloServer.HelloObj.hello` for minute `minute`.
fn report_calls(node: &Node, minute: i64) {
    let mut msg = BTreeMap::new();
    msg.insert(
        StatMicMsgHead {
            master_name: "Test.Client".into(),
            slave_name: "Test.HelloServer.HelloObj".into(),
            interface_name: "hello".into(),
            master_ip: "127.0.0.1".into(),
            slave_ip: "127.0.0.1".into(),
            slave_port: 9000,
            ..StatMicMsgHead::default()
        },
        StatMicMsgBody {
            count: 7,
            timeout_count: 1,
            exec_count: 2,
            // 3 calls up to 5 ms, 2 up to 100 ms, 2 in the last bucket (3000 ms), of which
            // the slowest took 4500 ms: those go to +Inf.
            interval_count: [(5, 3), (100, 2), (3000, 2)].into_iter().collect(),
            total_rsp_time: 9_215,
            max_rsp_time: 4_500,
            min_rsp_time: 1,
        },
    );
    let stats = node.stats().expect("[stat] on");
    stats
        .service()
        .report_calls(minute, true, &msg)
        .expect("report");
    let mut props = BTreeMap::new();
    props.insert(
        StatPropMsgHead {
            module_name: "Test.HelloServer".into(),
            ip: "127.0.0.1".into(),
            property_name: "queue".into(),
            ..StatPropMsgHead::default()
        },
        StatPropMsgBody {
            v_info: vec![
                StatPropInfo {
                    policy: "Max".into(),
                    value: "12".into(),
                },
                StatPropInfo {
                    policy: "Avg".into(),
                    value: "30=4".into(),
                },
            ],
        },
    );
    stats
        .service()
        .report_properties(minute, &props)
        .expect("report");
}

#[test]
fn metrics_show_the_nodes_transactions_instances_and_last_minute_calls() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let registry_port = node.registry_addr().expect("registry").port();

    // Two open transactions, begun over the network.
    let comm = Communicator::new()
        .with_locator(&proxy_string("tars.tarsregistry.QueryObj", registry_port))
        .expect("locator");
    let coordinator = CoordinatorProxy::new(comm.string_to_proxy(COORDINATOR_OBJ).expect("proxy"));
    for name in ["a", "b"] {
        let (r, _) = coordinator.begin("app", name, 60_000).expect("begin");
        assert_eq!(r.code, ResultCode::Success);
    }
    assert_eq!(node.open_transactions(), 2);

    // An instance without heartbeats: inactive after the heartbeat timeout (the node's own
    // objects stay active, it heartbeats them).
    let registry = node.registry().registry().clone();
    registry
        .register(instance("Test.Gone.Obj", "127.0.0.1", 1))
        .expect("register");
    let all = InstanceFilter {
        include_inactive: true,
        ..InstanceFilter::default()
    };
    wait_until("Test.Gone.Obj inactive", Duration::from_secs(5), || {
        registry
            .list(&all)
            .iter()
            .any(|i| i.obj_name == "Test.Gone.Obj" && !i.active)
    });

    // Calls of the last complete minute (exposed) and of the current one (not yet); not in
    // the last seconds of a minute, so that the scrape sees the same minutes.
    wait_until(
        "a minute with time to spare",
        Duration::from_secs(10),
        || {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            secs % 60 < 55
        },
    );
    report_calls(&node, now_minute() - 1);
    report_calls(&node, now_minute());

    let scraped = scrape(&node);

    let instances = registry.list(&all);
    let active = instances.iter().filter(|i| i.active).count();
    let objects: std::collections::BTreeSet<_> =
        instances.iter().map(|i| i.obj_name.to_string()).collect();
    assert_eq!(
        value(&scraped, "tars_registry_instances", &[("state", "active")]),
        Some(active as f64)
    );
    assert_eq!(
        value(
            &scraped,
            "tars_registry_instances",
            &[("state", "inactive")]
        ),
        Some((instances.len() - active) as f64)
    );
    assert_eq!(instances.len() - active, 1);
    assert_eq!(
        value(&scraped, "tars_registry_objects", &[]),
        Some(objects.len() as f64)
    );

    assert_eq!(
        value(&scraped, "tars_coordinator_open_transactions", &[]),
        Some(node.open_transactions() as f64)
    );
    let begin = format!("{:?}", GlobalStatus::Begin);
    assert_eq!(
        value(
            &scraped,
            "tars_coordinator_open_transactions_by_status",
            &[("status", begin.as_str())]
        ),
        Some(2.0)
    );

    // The node's server: the begins came over the network.
    let requests = value(&scraped, "tars_server_requests_total", &[]).expect("requests");
    assert!(requests >= 2.0, "{requests}");
    assert!(
        value(
            &scraped,
            "tars_server_connections",
            &[("adapter", tars_coordinator::service::ADAPTER)]
        )
        .is_some_and(|n| n >= 1.0),
        "the coordinator proxy's connection"
    );

    // The last complete minute's calls, as reported (one report of that minute, not two).
    let call = |result: &str| {
        value(
            &scraped,
            "tars_stat_calls",
            &[
                ("servant", "Test.HelloServer.HelloObj"),
                ("interface", "hello"),
                ("side", "client"),
                ("result", result),
            ],
        )
    };
    assert_eq!(call("success"), Some(7.0));
    assert_eq!(call("timeout"), Some(1.0));
    assert_eq!(call("exception"), Some(2.0));
    let histogram = sample(
        &scraped,
        "tars_stat_call_duration_seconds",
        &[("interface", "hello"), ("side", "client")],
    )
    .expect("histogram");
    let Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {histogram:?}");
    };
    let cumulative = |le: f64| {
        buckets
            .iter()
            .find(|b: &&HistogramCount| b.less_than == le)
            .map(|b| b.count)
    };
    assert_eq!(cumulative(0.005), Some(3.0));
    assert_eq!(cumulative(0.05), Some(3.0));
    assert_eq!(cumulative(0.1), Some(5.0));
    assert_eq!(
        cumulative(3.0),
        Some(5.0),
        "the last bucket held slower calls"
    );
    assert_eq!(cumulative(f64::INFINITY), Some(7.0));
    assert_eq!(
        value(
            &scraped,
            "tars_stat_call_duration_seconds_sum",
            &[("interface", "hello")]
        ),
        Some(9.215)
    );
    assert_eq!(
        value(&scraped, "tars_stat_window_start_seconds", &[]),
        Some(((now_minute() - 1) * 60) as f64)
    );
    assert_eq!(
        value(
            &scraped,
            "tars_stat_property",
            &[("property", "queue"), ("policy", "Max")]
        ),
        Some(12.0)
    );
    assert_eq!(
        value(
            &scraped,
            "tars_stat_property",
            &[("property", "queue"), ("policy", "Avg")]
        ),
        Some(7.5)
    );

    // Live: the next scrape sees the next transaction.
    let (r, _) = coordinator.begin("app", "c", 60_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    assert_eq!(
        value(&scrape(&node), "tars_coordinator_open_transactions", &[]),
        Some(3.0)
    );
    node.shutdown();
}

/// One sample as the Python client reads it: name, labels, value.
type PySample = (String, BTreeMap<String, String>, f64);

/// The official Prometheus Python client's OpenMetrics parser (`prometheus_client`, PyPI),
/// run on `text`: every sample as `name{labels} value` lines, or `None` when the module is
/// not installed (`TARS_PROMETHEUS_PY_PATH` names where `.ci/run` installs it).
fn python_client_parse(text: &str) -> Option<Vec<PySample>> {
    use std::io::Write;
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, dict(s.labels), s.value])
print(json.dumps(out))
"#;
    let mut command = std::process::Command::new("python3");
    command.args(["-c", script]);
    if let Ok(path) = std::env::var("TARS_PROMETHEUS_PY_PATH") {
        command.env("PYTHONPATH", path);
    }
    let probe = std::process::Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .envs(std::env::var("TARS_PROMETHEUS_PY_PATH").map(|p| ("PYTHONPATH", p)))
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python3 output");
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("json"))
}

#[test]
fn the_official_python_client_parses_the_scrape() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let registry_port = node.registry_addr().expect("registry").port();
    let comm = Communicator::new()
        .with_locator(&proxy_string("tars.tarsregistry.QueryObj", registry_port))
        .expect("locator");
    let coordinator = CoordinatorProxy::new(comm.string_to_proxy(COORDINATOR_OBJ).expect("proxy"));
    let (r, _) = coordinator.begin("app", "py", 60_000).expect("begin");
    assert_eq!(r.code, ResultCode::Success);
    report_calls(&node, now_minute() - 1);

    let addr = node.metrics_addr().expect("[metrics] port set");
    let answer = http_get(addr, "/metrics", Duration::from_secs(5)).expect("GET /metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    let Some(samples) = python_client_parse(&answer.body) else {
        assert!(
            std::env::var("TARS_PROMETHEUS_PY_REQUIRED").is_err(),
            "prometheus_client is required (TARS_PROMETHEUS_PY_REQUIRED) but not importable"
        );
        println!(
            "skipped: python3 prometheus_client is not installed (pip install prometheus-client)"
        );
        return;
    };
    let find = |name: &str| {
        samples
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    };
    assert_eq!(find("tars_coordinator_open_transactions"), Some(1.0));
    let instances: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "tars_registry_instances")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(
        instances,
        node.registry()
            .registry()
            .list(&InstanceFilter {
                include_inactive: true,
                ..InstanceFilter::default()
            })
            .len() as f64
    );
    // The same values as the Rust parser reads.
    let ours = Scrape::parse(answer.body.lines().map(|l| Ok(l.to_owned()))).expect("parse");
    assert_eq!(
        find("tars_coordinator_open_transactions"),
        value(&ours, "tars_coordinator_open_transactions", &[])
    );
    assert!(find("tars_server_requests_total").is_some_and(|v| v >= 1.0));
    node.shutdown();
}
