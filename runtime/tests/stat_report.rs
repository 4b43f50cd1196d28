//! Call statistics and properties reach a StatF / PropertyF service with the heads and bodies
//! TarsCpp's StatReport would send, for a known workload on the client and the server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::client::{CallOptions, Communicator};
use tars::property::Policy;
use tars::protocol::tars::{
    PropertyF, PropertyFServant, StatF, StatFServant, StatMicMsgBody, StatMicMsgHead,
    StatPropMsgBody, StatPropMsgHead, StatSampleMsg,
};
use tars::server::{Current, ServantError, Servants, ServerConfig};
use tars::stat::{StatConfig, TARS_VERSION};
use tars_test_support::servants::Echo;
use tars_test_support::{poll_until, proxy_string, serve, serve_adapter};

type MicMap = BTreeMap<StatMicMsgHead, StatMicMsgBody>;
type PropMap = BTreeMap<StatPropMsgHead, StatPropMsgBody>;

/// Keeps every report it receives.
#[derive(Default)]
struct Recorder {
    mic: Mutex<Vec<(MicMap, bool)>>,
    props: Mutex<Vec<PropMap>>,
}

impl StatF for Recorder {
    fn report_mic_msg(
        &self,
        _current: &mut Current,
        msg: MicMap,
        from_client: bool,
    ) -> Result<i32, ServantError> {
        self.mic.lock().expect("lock").push((msg, from_client));
        Ok(0)
    }

    fn report_sample_msg(
        &self,
        _current: &mut Current,
        _msg: Vec<StatSampleMsg>,
    ) -> Result<i32, ServantError> {
        Ok(0)
    }
}

impl PropertyF for Recorder {
    fn report_prop_msg(&self, _current: &mut Current, msg: PropMap) -> Result<i32, ServantError> {
        self.props.lock().expect("lock").push(msg);
        Ok(0)
    }
}

struct Shared(Arc<Recorder>);
impl StatF for Shared {
    fn report_mic_msg(&self, c: &mut Current, m: MicMap, f: bool) -> Result<i32, ServantError> {
        self.0.report_mic_msg(c, m, f)
    }
    fn report_sample_msg(
        &self,
        c: &mut Current,
        m: Vec<StatSampleMsg>,
    ) -> Result<i32, ServantError> {
        self.0.report_sample_msg(c, m)
    }
}
impl PropertyF for Shared {
    fn report_prop_msg(&self, c: &mut Current, m: PropMap) -> Result<i32, ServantError> {
        self.0.report_prop_msg(c, m)
    }
}

const STAT_OBJ: &str = "tars.tarsstat.StatObj";
const PROP_OBJ: &str = "tars.tarsproperty.PropertyObj";
const ECHO_OBJ: &str = "Test.EchoServer.EchoObj";

/// A stat + property service on 127.0.0.1; its recorder and port.
fn stat_service() -> (tars::server::Server, Arc<Recorder>, u16) {
    let recorder = Arc::new(Recorder::default());
    let mut servants = Servants::new();
    servants.add(
        STAT_OBJ,
        Arc::new(StatFServant::new(Shared(recorder.clone()))),
    );
    servants.add(
        PROP_OBJ,
        Arc::new(PropertyFServant::new(Shared(recorder.clone()))),
    );
    let (server, port) = serve(servants, 1);
    (server, recorder, port)
}

fn config(module: &str, stat_port: u16) -> StatConfig {
    StatConfig {
        stat_obj: proxy_string(STAT_OBJ, stat_port),
        property_obj: proxy_string(PROP_OBJ, stat_port),
        report_interval_ms: 200,
        ..StatConfig::new(module)
    }
}

/// Every report of one side merged by head, as the stat service would add them up.
fn merged(recorder: &Recorder, from_client: bool) -> MicMap {
    let mut out = MicMap::new();
    for (msg, side) in recorder.mic.lock().expect("lock").iter() {
        if *side != from_client {
            continue;
        }
        for (head, body) in msg {
            let o = out.entry(head.clone()).or_default();
            o.count += body.count;
            o.timeout_count += body.timeout_count;
            o.exec_count += body.exec_count;
            o.total_rsp_time += body.total_rsp_time;
            o.max_rsp_time = o.max_rsp_time.max(body.max_rsp_time);
            if o.min_rsp_time == 0 || (body.min_rsp_time != 0 && body.min_rsp_time < o.min_rsp_time)
            {
                o.min_rsp_time = body.min_rsp_time;
            }
            for (k, v) in &body.interval_count {
                *o.interval_count.entry(*k).or_insert(0) += v;
            }
        }
    }
    out
}

fn by_func<'a>(map: &'a MicMap, func: &str) -> Option<(&'a StatMicMsgHead, &'a StatMicMsgBody)> {
    map.iter().find(|(h, _)| h.interface_name == func)
}

const BOUNDS: [i32; 9] = [5, 10, 50, 100, 200, 500, 1000, 2000, 3000];

/// The histogram agrees with the successes' times: every bucket present, `n` calls counted,
/// none below `min_ms`.
fn check_buckets(body: &StatMicMsgBody, n: i32, min_ms: i32) {
    let keys: Vec<i32> = body.interval_count.keys().copied().collect();
    assert_eq!(keys, BOUNDS, "every TarsCpp bucket is present");
    let counted: i32 = body.interval_count.values().sum();
    let beyond = if body.max_rsp_time >= 3000 { 1 } else { 0 };
    assert!(counted + beyond >= n && counted <= n, "{body:?}");
    for (bound, count) in &body.interval_count {
        if *bound <= min_ms {
            assert_eq!(*count, 0, "nothing faster than {min_ms} ms: {body:?}");
        }
    }
    let max_bucket = BOUNDS.iter().find(|b| body.max_rsp_time < **b);
    if let Some(b) = max_bucket {
        assert!(
            body.interval_count[b] >= 1,
            "the slowest call is in bucket {b}: {body:?}"
        );
    }
}

fn workload(threads: usize) {
    let (_stat_server, recorder, stat_port) = stat_service();

    // The echo server reports its served requests through its own communicator's reporter.
    let server_comm = Communicator::new().with_stat_report(config("Test.EchoServer", stat_port));
    let server_stats = server_comm
        .stat_reporter()
        .expect("reporter")
        .expect("configured");
    let server_config = ServerConfig {
        stats: Some(server_stats.clone()),
        ..ServerConfig::default()
    };
    let echo = Arc::new(Echo::default());
    let mut servants = Servants::new();
    servants.add(ECHO_OBJ, echo.clone());
    let (_echo_server, echo_port) =
        serve_adapter(0, servants, server_config, |a| a.threads = threads);

    let client = Communicator::new().with_stat_report(config("Test.Client", stat_port));
    let proxy = client
        .string_to_proxy(&proxy_string(ECHO_OBJ, echo_port))
        .expect("proxy");
    let opts = CallOptions::default();

    // 3 synchronous calls of 20 ms.
    for _ in 0..3 {
        let mut w = proxy.param_writer();
        w.write(1, "ms", &20i32);
        proxy.invoke_sync("sleep", w, &opts).expect("sleep");
    }
    // 2 failures (business code -42): exceptions.
    for _ in 0..2 {
        assert!(proxy
            .invoke_sync("fail", proxy.param_writer(), &opts)
            .is_err());
    }
    // 1 asynchronous call answered 20 ms later by a deferred reply.
    let mut w = proxy.param_writer();
    w.write(1, "x", &4i32);
    tars::client::block_on(proxy.invoke_async("later", w, &opts)).expect("later");
    // 2 callback calls.
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let mut w = proxy.param_writer();
        w.write(1, "s", &"hi".to_owned());
        let tx = tx.clone();
        proxy.call_callback("echo", w, &opts, Ok, move |r| {
            let _ = tx.send(r.is_ok());
        });
    }
    for _ in 0..2 {
        assert!(rx.recv_timeout(Duration::from_secs(5)).expect("callback"));
    }
    // 1 one-way call.
    proxy
        .invoke_oneway("notify", proxy.param_writer(), &opts)
        .expect("oneway");
    poll_until("the one-way call served", Duration::from_secs(5), || {
        (echo.notified() == 1).then_some(())
    });
    // 1 timeout: never answered, the client gives up after 100 ms.
    let err = proxy
        .invoke_sync(
            "park",
            proxy.param_writer(),
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .expect_err("parked");
    assert!(
        matches!(err, tars::client::CallError::Timeout(_)),
        "{err:?}"
    );

    // Client side.
    let client_stats = poll_until("client reports", Duration::from_secs(10), || {
        let m = merged(&recorder, true);
        let done = ["sleep", "fail", "later", "echo", "notify", "park"]
            .iter()
            .all(|f| by_func(&m, f).is_some());
        done.then_some(m)
    });
    let master = format!("Test.Client@{TARS_VERSION}");
    for head in client_stats.keys() {
        assert_eq!(head.master_name, master.as_str());
        assert_eq!(head.slave_name, "Test.EchoServer");
        assert_eq!(head.slave_ip, "127.0.0.1");
        assert_eq!(head.slave_port, i32::from(echo_port));
        assert_eq!(head.master_ip, "");
        assert_eq!(head.return_value, 0);
        assert_eq!(head.tars_version, TARS_VERSION);
    }
    let (_, sleep) = by_func(&client_stats, "sleep").expect("sleep");
    assert_eq!(
        (sleep.count, sleep.timeout_count, sleep.exec_count),
        (3, 0, 0)
    );
    assert!(
        sleep.min_rsp_time >= 20 && sleep.max_rsp_time >= sleep.min_rsp_time,
        "{sleep:?}"
    );
    assert!(sleep.total_rsp_time >= 60, "{sleep:?}");
    assert!(
        sleep.total_rsp_time <= 3 * i64::from(sleep.max_rsp_time),
        "{sleep:?}"
    );
    check_buckets(sleep, 3, 20);
    let (_, fail) = by_func(&client_stats, "fail").expect("fail");
    assert_eq!((fail.count, fail.timeout_count, fail.exec_count), (0, 0, 2));
    assert_eq!(
        (fail.total_rsp_time, fail.max_rsp_time, fail.min_rsp_time),
        (0, 0, 0)
    );
    // TarsCpp files failures (maxRspTime 0) in the 5 ms bucket.
    assert_eq!(fail.interval_count[&5], 2, "{fail:?}");
    let (_, later) = by_func(&client_stats, "later").expect("later");
    assert_eq!(later.count, 1);
    assert!(later.min_rsp_time >= 20, "{later:?}");
    let (_, echo_cb) = by_func(&client_stats, "echo").expect("echo");
    assert_eq!(echo_cb.count, 2);
    let (_, notify) = by_func(&client_stats, "notify").expect("notify");
    assert_eq!(notify.count, 1);
    let (_, park) = by_func(&client_stats, "park").expect("park");
    assert_eq!((park.count, park.timeout_count, park.exec_count), (0, 1, 0));

    // Server side: every answered request (the parked one never is).
    let server_side = poll_until("server reports", Duration::from_secs(10), || {
        let m = merged(&recorder, false);
        let done = ["sleep", "fail", "later", "echo", "notify"]
            .iter()
            .all(|f| by_func(&m, f).is_some());
        done.then_some(m)
    });
    for head in server_side.keys() {
        assert_eq!(head.master_name, "stat_from_server");
        assert_eq!(head.slave_name, "Test.EchoServer");
        assert_eq!(head.master_ip, "127.0.0.1");
        assert_eq!((head.slave_ip.as_str(), head.slave_port), ("", 0));
    }
    assert!(by_func(&server_side, "park").is_none());
    let (_, sleep) = by_func(&server_side, "sleep").expect("sleep");
    assert_eq!(sleep.count, 3);
    assert!(sleep.min_rsp_time >= 20, "{sleep:?}");
    check_buckets(sleep, 3, 20);
    let (_, fail) = by_func(&server_side, "fail").expect("fail");
    assert_eq!((fail.count, fail.exec_count), (0, 2));
    let (_, later) = by_func(&server_side, "later").expect("later");
    assert_eq!(later.count, 1, "the deferred reply is counted");
    assert!(
        later.min_rsp_time >= 20,
        "timed from the request's arrival: {later:?}"
    );
    assert_eq!(by_func(&server_side, "echo").expect("echo").1.count, 2);
    assert_eq!(by_func(&server_side, "notify").expect("notify").1.count, 1);
    // The reporters' own calls are not counted.
    assert!(by_func(&client_stats, "reportMicMsg").is_none());
}

#[test]
fn client_and_server_statistics_with_business_threads() {
    workload(1);
}

#[test]
fn client_and_server_statistics_with_an_inline_adapter() {
    workload(0);
}

#[test]
fn properties_reach_the_property_service() {
    let (_stat_server, recorder, stat_port) = stat_service();
    let mut cfg = config("Test.Client", stat_port);
    cfg.set_division = Some("gz.sz.1".into());
    // One long period: the values below all fall in it, and the report is the last one,
    // sent when the reporter is dropped.
    cfg.report_interval_ms = 60_000;
    let client = Communicator::new().with_stat_report(cfg);
    let reporter = client
        .stat_reporter()
        .expect("reporter")
        .expect("configured");
    let queue = reporter.property(
        "queue",
        &[
            Policy::Sum,
            Policy::Avg,
            Policy::Max,
            Policy::Min,
            Policy::Count,
            Policy::Distr(vec![10, 50, 100]),
        ],
    );
    for v in [0, 5, 10, 49, 50, 99, 100, 7] {
        queue.report(v);
    }
    drop(reporter);
    drop(client);
    let (head, body) = poll_until("a property report", Duration::from_secs(10), || {
        let props = recorder.props.lock().expect("lock");
        props
            .iter()
            .flat_map(|m| m.iter())
            .find(|(h, b)| {
                h.property_name == "queue"
                    && b.v_info
                        .iter()
                        .any(|i| i.policy == "Count" && i.value != "0")
            })
            .map(|(h, b)| (h.clone(), b.clone()))
    });
    assert_eq!(head.module_name, "Test.Client.gzsz1");
    assert_eq!(head.ip, "");
    assert_eq!(
        (
            head.set_name.as_str(),
            head.set_area.as_str(),
            head.set_id.as_str()
        ),
        ("gz", "sz", "1")
    );
    assert_eq!(head.i_property_ver, 2);
    let got: Vec<(String, String)> = body
        .v_info
        .iter()
        .map(|i| (i.policy.to_string(), i.value.to_string()))
        .collect();
    let want: Vec<(String, String)> = [
        ("Sum", "320"),
        ("Avg", "40"),
        ("Max", "100"),
        ("Min", "5"),
        ("Count", "8"),
        ("Distr", "10|3,50|2,100|2"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
}
