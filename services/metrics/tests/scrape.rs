//! A tars-rs server's I/O counters scraped over HTTP from `/metrics` and read back with a
//! Prometheus text parser (`prometheus-parse`): the values equal the server's own counters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use tars_metrics::scrape::http_get;
use tars_metrics::{MetricsServer, ServerIoSource, ServerSnapshot, CONTENT_TYPE};
use tars_test_support::net::ADAPTER;
use tars_test_support::servants::echo;
use tars_test_support::{one_servant, proxy, serve, Echo};

const OBJ: &str = "Test.MetricsServer.EchoObj";

/// The parsed scrape of `/metrics` at `server`.
fn scrape(server: &MetricsServer) -> Scrape {
    let answer = http_get(server.local_addr(), "/metrics", Duration::from_secs(5)).expect("GET");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some(CONTENT_TYPE));
    assert!(answer.body.ends_with("# EOF\n"), "{}", answer.body);
    Scrape::parse(answer.body.lines().map(|l| Ok(l.to_owned()))).expect("a valid exposition")
}

/// The value of the sample `metric` whose labels include `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[test]
fn a_servers_io_counters_are_scraped_as_they_are() {
    let (server, port) = serve(one_servant(OBJ, Arc::new(Echo::default())), 1);
    let server = Arc::new(Mutex::new(server));
    let source = {
        let server = server.clone();
        ServerIoSource::new(move || server.lock().ok().map(|s| ServerSnapshot::of(&s)))
    };
    let metrics =
        MetricsServer::start("127.0.0.1:0".parse().expect("addr"), vec![Box::new(source)])
            .expect("metrics server");

    let p = proxy(OBJ, port);
    for i in 0..5 {
        assert_eq!(echo(&p, &format!("x{i}")).expect("echo"), format!("x{i}"));
    }
    let scraped = scrape(&metrics);
    let io = server.lock().expect("server").io_stats();
    assert_eq!(io.requests, 5);
    assert_eq!(
        value(&scraped, "tars_server_requests_total", &[]),
        Some(5.0)
    );
    assert_eq!(
        value(&scraped, "tars_server_responses_total", &[]),
        Some(5.0)
    );
    assert_eq!(
        value(&scraped, "tars_server_socket_reads_total", &[]),
        Some(io.socket_reads as f64)
    );
    assert_eq!(
        value(&scraped, "tars_server_buffered_bytes", &[]),
        Some(io.buffered_bytes as f64)
    );
    assert_eq!(
        value(&scraped, "tars_server_connections", &[("adapter", ADAPTER)]),
        Some(1.0),
        "the proxy's connection"
    );
    assert_eq!(
        value(&scraped, "tars_server_udp_unsent_replies_total", &[]),
        Some(0.0)
    );

    // Live: a second scrape sees the calls made since.
    for _ in 0..3 {
        echo(&p, "y").expect("echo");
    }
    assert_eq!(
        value(&scrape(&metrics), "tars_server_requests_total", &[]),
        Some(8.0)
    );

    // Other paths are not found.
    let other = http_get(metrics.local_addr(), "/", Duration::from_secs(5)).expect("GET /");
    assert_eq!(other.status, 404);

    let addr = metrics.local_addr();
    metrics.shutdown();
    assert!(
        http_get(addr, "/metrics", Duration::from_secs(2)).is_err(),
        "stopped listening"
    );
}

#[test]
fn shed_requests_and_the_work_in_flight_are_scraped() {
    use tars::client::{block_on, CallOptions};
    use tars::packet::ParamWriter;
    let echo_servant = Arc::new(Echo::default());
    let (server, port) = tars_test_support::serve_adapter(
        0,
        one_servant(OBJ, echo_servant.clone()),
        tars::server::ServerConfig::default(),
        |a| {
            a.threads = 0;
            a.queue_capacity = 1;
            a.queue_timeout = Duration::from_millis(400);
        },
    );
    let server = Arc::new(Mutex::new(server));
    let source = {
        let server = server.clone();
        ServerIoSource::new(move || server.lock().ok().map(|s| ServerSnapshot::of(&s)))
    };
    let metrics =
        MetricsServer::start("127.0.0.1:0".parse().expect("addr"), vec![Box::new(source)])
            .expect("metrics server");
    let p = proxy(OBJ, port);
    let opts = CallOptions::new().timeout(Duration::from_secs(5));
    // One parked call fills the inline adapter; the next is refused with -9.
    let parked = p.invoke_async("park", ParamWriter::tars(), &opts);
    tars_test_support::poll_until("the parked call", Duration::from_secs(2), || {
        (value(&scrape(&metrics), "tars_server_queued_requests", &[]) == Some(1.0)).then_some(())
    });
    let refused = block_on(p.invoke_async("park", ParamWriter::tars(), &opts));
    assert!(refused.is_err(), "past the bound");
    let scraped = scrape(&metrics);
    assert_eq!(
        value(
            &scraped,
            "tars_server_shed_total",
            &[("reason", "overload")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scraped,
            "tars_server_shed_total",
            &[("reason", "queue_timeout")]
        ),
        Some(0.0)
    );
    // The parked call outlives the queue timeout: answered -6, no longer in flight.
    assert!(block_on(parked).is_err(), "answered -6");
    let scraped = scrape(&metrics);
    assert_eq!(
        value(
            &scraped,
            "tars_server_shed_total",
            &[("reason", "queue_timeout")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&scraped, "tars_server_queued_requests", &[]),
        Some(0.0)
    );
    let io = server.lock().expect("server").io_stats();
    assert_eq!((io.shed_overload, io.shed_queue_timeout), (1, 1));
    drop(echo_servant.parked());
    metrics.shutdown();
}
