//! Statistics from an unmodified npm @tars/rpc client and server through @tars/monitor 2.1.4,
//! reported to our tarsd: each Node process loads a Tars config file (`TARS_CONFIG`, with
//! `TARS_MONITOR` set, as tarsnode starts Node apps) whose `tars.application.client` section
//! names the node's `tars.tarsstat.StatObj` and `tars.tarsproperty.PropertyObj` by full
//! proxy string (the registry adapter's port). The client makes a known set of calls
//! (answered, throwing, timing out, one-way — `node/monitor-peer.js`) and reports properties
//! with the Sum, Max, Avg and Count policies; the test then waits for the reports (@tars/monitor
//! sends call statistics at most every 10 s) and checks the node's rollups.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tars_conformance::peer;
use tars_stat::{now_minute, CallQuery, CallSeries, PropertyQuery, PropertySeries, Side};
use tars_test_support::{free_port, poll_until_ok, ChildProcess};
use tarsd::{Node, NodeConfig};

/// @tars/monitor's smallest call-statistics interval is 10 s; the client's report goes out
/// 10 s after its first call. Generous for a loaded machine, still bounded.
const REPORT_WAIT: Duration = Duration::from_secs(45);

/// The callee name @tars/rpc's client reports: the first two parts of the servant name.
const CALLEE: &str = "Test.HelloServer";
/// The client's module (`tars.application.client.modulename`).
const CLIENT_MODULE: &str = "Test.MonitorClient";

fn node(dir: &Path) -> Node {
    let mut config = NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    };
    config.registry.port = 0;
    config.coordinator.port = 0;
    config.stat.flush_interval_ms = 50;
    Node::start(&config).expect("node starts")
}

/// A Tars config file as a Node Tars app gets it, reporting to the node on `stat_port`.
/// `report-interval` 1000: properties every second; call statistics keep @tars/monitor's 10 s
/// minimum.
fn tars_config(module: &str, adapter_port: u16, stat_port: u16) -> String {
    format!(
        "<tars>
  <application>
    enableset=n
    setdivision=NULL
    <server>
      app=Test
      server=HelloServer
      localip=127.0.0.1
      <Test.HelloServer.HelloObjAdapter>
        endpoint=tcp -h 127.0.0.1 -p {adapter_port} -t 60000
        maxconns=1024
        protocol=tars
        servant=Test.HelloServer.HelloObj
      </Test.HelloServer.HelloObjAdapter>
    </server>
    <client>
      locator=tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p {stat_port}
      stat=tars.tarsstat.StatObj@tcp -h 127.0.0.1 -p {stat_port} -t 3000
      property=tars.tarsproperty.PropertyObj@tcp -h 127.0.0.1 -p {stat_port} -t 3000
      report-interval=1000
      modulename={module}
      async-invoke-timeout=3000
    </client>
  </application>
</tars>
"
    )
}

fn node_peer(config: &Path, args: &[String]) -> ChildProcess {
    let mut command =
        peer::node_script_command("monitor-peer.js").unwrap_or_else(|e| panic!("{e}"));
    command
        .args(args)
        .env("TARS_CONFIG", config)
        .env("TARS_MONITOR", "1");
    ChildProcess::start(command, Duration::from_secs(30))
}

/// (successes, exceptions, timeouts, histogram total) of `interface` as `side` reported it,
/// over every minute.
fn totals(series: &[CallSeries], interface: &str, side: Side) -> (u64, u64, u64, i64) {
    series
        .iter()
        .filter(|s| s.slave_name == CALLEE && s.interface_name == interface && s.side == side)
        .flat_map(|s| &s.points)
        .fold((0, 0, 0, 0), |(n, e, t, h), p| {
            (
                n + p.successes,
                e + p.exceptions,
                t + p.timeouts,
                h + p.histogram.values().sum::<i64>(),
            )
        })
}

/// Property values of [`CLIENT_MODULE`] by (property, policy), when one minute holds each.
fn property_values(series: &[PropertySeries]) -> BTreeMap<(String, String), f64> {
    series
        .iter()
        .filter(|s| s.module_name == CLIENT_MODULE)
        .map(|s| {
            let total = match s.policy.as_str() {
                "Sum" | "Count" => s.points.iter().map(|p| p.value).sum(),
                _ => s.points.last().map_or(f64::NAN, |p| p.value),
            };
            ((s.property_name.clone(), s.policy.clone()), total)
        })
        .collect()
}

#[test]
fn node_client_and_server_report_calls_and_properties_to_our_node() {
    if let Err(e) = peer::ensure_peers() {
        panic!("{e}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path());
    let stat_port = node.registry_addr().expect("registry adapter").port();
    let server_port = free_port();
    let server_conf = dir.path().join("Test.HelloServer.config.conf");
    let client_conf = dir.path().join("Test.MonitorClient.config.conf");
    std::fs::write(&server_conf, tars_config(CALLEE, server_port, stat_port)).expect("write");
    std::fs::write(
        &client_conf,
        tars_config(CLIENT_MODULE, server_port, stat_port),
    )
    .expect("write");

    let server = node_peer(&server_conf, &["server".into()]);
    assert_eq!(server.ready_port(), server_port);
    let client = node_peer(&client_conf, &["client".into(), server_port.to_string()]);
    let outcome = client.stdout_lines();
    for expected in [
        "echo ok=7 failed=0",
        "add ok=5 failed=0",
        "add-throwing ok=0 failed=3",
        "ping-timeout ok=0 failed=2",
        "notify-oneway sent=4",
    ] {
        assert!(
            outcome.iter().any(|l| l == expected),
            "{expected:?} not in {outcome:?}"
        );
    }

    let stats = node.stats().expect("[stat] is on by default");
    let calls_query = || CallQuery {
        from_minute: now_minute() - 3,
        to_minute: now_minute() + 2,
        ..CallQuery::default()
    };
    let props_query = || PropertyQuery {
        from_minute: now_minute() - 3,
        to_minute: now_minute() + 2,
        ..PropertyQuery::default()
    };
    // Both processes have reported once the last expected series is complete.
    let (calls, props) = poll_until_ok("the @tars/monitor reports", REPORT_WAIT, || {
        let calls = stats
            .calls(&calls_query())
            .map_err(|e| e.to_string())?
            .value;
        let props = stats
            .properties(&props_query())
            .map_err(|e| e.to_string())?
            .value;
        let client_done = totals(&calls, "ping", Side::Client).2 >= 2
            && totals(&calls, "add", Side::Client).0 >= 5;
        let server_done = totals(&calls, "notify", Side::Server).0 >= 4;
        let props_done = property_values(&props).len() >= 4;
        if client_done && server_done && props_done {
            Ok((calls, props))
        } else {
            Err(format!("so far: {calls:?} {props:?}"))
        }
    });

    // The client (bFromClient = true): every two-way call by function and outcome; the
    // response-time histogram holds exactly the answered calls.
    assert_eq!(
        totals(&calls, "echo", Side::Client),
        (7, 0, 0, 7),
        "{calls:?}"
    );
    assert_eq!(
        totals(&calls, "add", Side::Client),
        (5, 3, 0, 5),
        "{calls:?}"
    );
    assert_eq!(
        totals(&calls, "ping", Side::Client),
        (0, 0, 2, 0),
        "{calls:?}"
    );
    assert_eq!(
        totals(&calls, "notify", Side::Client),
        (0, 0, 0, 0),
        "@tars/rpc's client does not report one-way calls"
    );
    // The server (bFromClient = false): @tars/rpc's server reports the one-way calls it served,
    // under its own module name.
    assert_eq!(
        totals(&calls, "notify", Side::Server),
        (4, 0, 0, 4),
        "{calls:?}"
    );
    for interface in ["echo", "add", "ping"] {
        assert_eq!(
            totals(&calls, interface, Side::Server),
            (0, 0, 0, 0),
            "@tars/rpc's server reports only one-way, TUP and non-Tars calls"
        );
    }
    let interfaces: Vec<(&str, Side)> = calls
        .iter()
        .map(|s| (s.interface_name.as_str(), s.side))
        .collect();
    assert_eq!(
        interfaces,
        [
            ("add", Side::Client),
            ("echo", Side::Client),
            ("notify", Side::Server),
            ("ping", Side::Client),
        ],
        "exactly the functions called"
    );
    // Who called: the client's module name, and "one_way_client" as @tars/rpc's server names
    // the callers of one-way calls.
    let rows = stats
        .call_rows(now_minute() - 3, now_minute() + 2, CALLEE, "")
        .expect("rows")
        .value;
    assert!(!rows.is_empty());
    for row in &rows {
        let caller = if row.from_client {
            CLIENT_MODULE
        } else {
            "one_way_client"
        };
        assert_eq!(row.master_name, caller, "{row:?}");
    }

    let values = property_values(&props);
    let expected: BTreeMap<(String, String), f64> = [
        (("hits", "Count"), 5.0),
        (("queue", "Avg"), 6.0),
        (("queue", "Max"), 9.0),
        (("queue", "Sum"), 18.0),
    ]
    .into_iter()
    .map(|((n, p), v)| ((n.to_owned(), p.to_owned()), v))
    .collect();
    assert_eq!(values, expected, "{props:?}");

    // The catalog lists what was reported.
    let catalog = stats
        .catalog(now_minute() - 3, now_minute() + 2)
        .expect("catalog")
        .value;
    assert_eq!(
        catalog.servants.get(CALLEE).map(|f| f.len()),
        Some(4),
        "{catalog:?}"
    );

    drop(client);
    drop(server);
    node.shutdown();
}
