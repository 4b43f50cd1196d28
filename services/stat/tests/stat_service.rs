//! The statistics services over the network: StatF and PropertyF reports from a tars-rs
//! client are rolled up per minute and side, survive a restart, and are trimmed by retention
//! and row bound; StatQuery returns the stored rows.

use std::collections::BTreeMap;

use tars::client::Communicator;
use tars::protocol::tars::{
    PropertyFProxy, StatFProxy, StatMicMsgBody, StatMicMsgHead, StatPropInfo, StatPropMsgBody,
    StatPropMsgHead,
};
use tars_bootstrap::Hosted;
use tars_protocols::tarsstat::StatQueryProxy;
use tars_stat::{
    now_minute, CallQuery, PropertyQuery, Side, StatConfig, StatService, ADAPTER, PROPERTY_OBJ,
    STAT_OBJ, STAT_QUERY_OBJ,
};

fn config(dir: &std::path::Path) -> StatConfig {
    StatConfig {
        data_dir: dir.to_owned(),
        port: 0,
        flush_interval_ms: 50,
        ..StatConfig::default()
    }
}

fn head(master: &str, interface: &str, ret: i32) -> StatMicMsgHead {
    StatMicMsgHead {
        master_name: master.into(),
        slave_name: "Test.HelloServer.HelloObj".into(),
        interface_name: interface.into(),
        master_ip: "127.0.0.1".into(),
        slave_ip: "127.0.0.1".into(),
        slave_port: 9000,
        return_value: ret,
        ..StatMicMsgHead::default()
    }
}

fn body(count: i32, timeouts: i32, exceptions: i32, buckets: &[(i32, i32)]) -> StatMicMsgBody {
    let total: i64 = buckets
        .iter()
        .map(|(b, n)| i64::from(*b) * i64::from(*n))
        .sum();
    StatMicMsgBody {
        count,
        timeout_count: timeouts,
        exec_count: exceptions,
        interval_count: buckets.iter().copied().collect(),
        total_rsp_time: total,
        max_rsp_time: buckets.iter().map(|(b, _)| *b).max().unwrap_or(0),
        min_rsp_time: buckets.iter().map(|(b, _)| *b).min().unwrap_or(0),
    }
}

fn proxy(communicator: &Communicator, obj: &str, port: u16) -> tars::client::ServantProxy {
    communicator
        .string_to_proxy(&format!("{obj}@tcp -h 127.0.0.1 -p {port} -t 5000"))
        .expect("proxy")
}

#[test]
fn reports_roll_up_per_minute_and_side_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = StatService::open(config(dir.path())).expect("open");
    let server = service.start().expect("serve");
    let port = server.local_addr(ADAPTER).expect("bound").port();
    let communicator = Communicator::new();
    let stat = StatFProxy::new(proxy(&communicator, STAT_OBJ, port));
    let property = PropertyFProxy::new(proxy(&communicator, PROPERTY_OBJ, port));

    // Two reports from two callers of `hello` (client side), one of the server side.
    let mut a = BTreeMap::new();
    a.insert(head("A", "hello", 0), body(90, 0, 0, &[(5, 60), (10, 30)]));
    a.insert(head("A", "bye", 0), body(0, 2, 3, &[]));
    assert_eq!(stat.report_mic_msg(&a, true).expect("report"), 0);
    let mut b = BTreeMap::new();
    b.insert(head("B", "hello", 0), body(10, 1, 0, &[(50, 9), (100, 1)]));
    assert_eq!(stat.report_mic_msg(&b, true).expect("report"), 0);
    let mut s = BTreeMap::new();
    s.insert(head("", "hello", 0), body(100, 0, 0, &[(5, 100)]));
    assert_eq!(stat.report_mic_msg(&s, false).expect("report"), 0);

    let prop_head = StatPropMsgHead {
        module_name: "Test.HelloServer".into(),
        ip: "127.0.0.1".into(),
        property_name: "queue".into(),
        ..StatPropMsgHead::default()
    };
    let info = |policy: &str, value: &str| StatPropInfo {
        policy: policy.into(),
        value: value.into(),
    };
    for (sum, max, avg) in [("3", "7", "10"), ("4.5", "5", "20")] {
        let mut msg = BTreeMap::new();
        msg.insert(
            prop_head.clone(),
            StatPropMsgBody {
                v_info: vec![info("Sum", sum), info("Max", max), info("Avg", avg)],
            },
        );
        assert_eq!(property.report_prop_msg(&msg).expect("report"), 0);
    }

    let minute = now_minute();
    let check = |service: &StatService| {
        let query = CallQuery {
            from_minute: minute - 1,
            to_minute: minute + 2,
            slave_name: "Test.HelloServer.HelloObj".into(),
            ..CallQuery::default()
        };
        let series = service.calls(&query).expect("query");
        let find = |interface: &str, side: Side| {
            series
                .iter()
                .find(|s| s.interface_name == interface && s.side == side)
                .unwrap_or_else(|| panic!("{interface} {side:?} in {series:?}"))
        };
        let hello = find("hello", Side::Client);
        // The reports all arrived in one minute unless the test straddled a minute's end.
        let sum = |s: &tars_stat::CallSeries, f: fn(&tars_stat::CallPoint) -> u64| -> u64 {
            s.points.iter().map(f).sum()
        };
        assert_eq!(sum(hello, |p| p.successes), 100);
        assert_eq!(sum(hello, |p| p.timeouts), 1);
        if hello.points.len() > 1 {
            return;
        }
        let p = &hello.points[0];
        assert_eq!((p.successes, p.timeouts, p.exceptions), (100, 1, 0));
        assert_eq!(p.calls(), 101);
        assert_eq!(p.max_ms, 100);
        assert_eq!(p.min_ms, 5);
        // 60 calls <= 5 ms, 30 <= 10, 9 <= 50, 1 <= 100: the median lies in the first
        // bucket, the 99th call in (10, 50].
        assert!(p.p50_ms.expect("p50") <= 5.0, "{p:?}");
        let p99 = p.p99_ms.expect("p99");
        assert!(p99 > 10.0 && p99 <= 50.0, "{p:?}");
        let bye = find("bye", Side::Client);
        assert_eq!((bye.points[0].timeouts, bye.points[0].exceptions), (2, 3));
        let server_side = find("hello", Side::Server);
        assert_eq!(server_side.points[0].successes, 100);
        // One side only.
        let only_server = service
            .calls(&CallQuery {
                side: Some(Side::Server),
                ..query.clone()
            })
            .expect("query");
        assert_eq!(only_server.len(), 1);

        let props = service
            .properties(&PropertyQuery {
                from_minute: minute - 1,
                to_minute: minute + 2,
                ..PropertyQuery::default()
            })
            .expect("properties");
        let value = |policy: &str| {
            let s = props
                .iter()
                .find(|s| s.policy == policy && s.property_name == "queue")
                .unwrap_or_else(|| panic!("{policy} in {props:?}"));
            (s.points[0].value, s.points[0].raw.clone())
        };
        assert_eq!(value("Sum"), (7.5, "7.5".into()));
        assert_eq!(value("Max"), (7.0, "7".into()));
        assert_eq!(value("Avg"), (15.0, "30=2".into()));

        let catalog = service.catalog(minute - 1, minute + 2).expect("catalog");
        let interfaces: Vec<_> = catalog.servants["Test.HelloServer.HelloObj"]
            .iter()
            .cloned()
            .collect();
        assert_eq!(interfaces, ["bye", "hello"]);
        assert_eq!(
            catalog.properties["Test.HelloServer"]["queue"]
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            ["Avg", "Max", "Sum"]
        );
    };
    check(&service);

    // The query object returns the stored rows.
    let query = StatQueryProxy::new(proxy(&communicator, STAT_QUERY_OBJ, port));
    let (ret, rows) = query
        .query_calls(minute - 1, minute + 2, "", "hello")
        .expect("queryCalls");
    assert_eq!(ret, 0);
    assert_eq!(
        rows.len(),
        3,
        "A and B client-side, one server-side: {rows:?}"
    );

    server.shutdown();
    service.shutdown();
    drop(service);
    let reopened = StatService::open(config(dir.path())).expect("reopen");
    check(&reopened);
}

#[test]
fn the_trim_drops_expired_minutes_and_the_oldest_past_the_row_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = StatService::open(StatConfig {
        retention_minutes: 60,
        max_rows: 4,
        ..config(dir.path())
    })
    .expect("open");
    let now = now_minute();
    let mut msg = BTreeMap::new();
    msg.insert(head("A", "hello", 0), body(1, 0, 0, &[(5, 1)]));
    // Expired (two hours ago), then five minutes of one row each.
    for minute in [now - 120, now - 5, now - 4, now - 3, now - 2, now - 1] {
        service.report_calls(minute, true, &msg).expect("report");
    }
    service.flush().expect("flush");
    assert_eq!(service.store().rows().expect("rows"), 6);
    let trimmed = service.trim_now().expect("trim");
    assert_eq!((trimmed.expired, trimmed.over_bound), (1, 1));
    let all = CallQuery {
        from_minute: 0,
        to_minute: now + 1,
        ..CallQuery::default()
    };
    let minutes: Vec<i64> = service.calls(&all).expect("query")[0]
        .points
        .iter()
        .map(|p| p.minute)
        .collect();
    assert_eq!(minutes, [now - 4, now - 3, now - 2, now - 1]);
}
