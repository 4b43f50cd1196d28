//! What recording one call's statistics costs (`StatCollector::record`), next to what the
//! server already pays per call: the figure behind "statistics cost at most 5% of calls/s"
//! (bench/compare-rpc.sh measures the whole server with reporting on and off).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tars::stat::{CallOutcome, StatCollector, StatTarget};
use tars::TarsString;

fn record(c: &mut Criterion) {
    let collector = StatCollector::new();
    let target = Arc::new(StatTarget {
        master_name: "Test.Client@tars-rs".into(),
        slave_name: "Test.HelloServer".into(),
        slave_ip: "127.0.0.1".into(),
        slave_port: 18601,
        ..StatTarget::default()
    });
    let funcs: Vec<TarsString> = ["echo", "add", "notify", "getUserProfile"]
        .iter()
        .map(|f| TarsString::from(*f))
        .collect();
    let peer = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    let mut i = 0usize;
    c.bench_function("stat record (hit)", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            collector.record(
                &target,
                &funcs[i % funcs.len()],
                peer,
                CallOutcome::Success(Duration::from_micros(120)),
            );
        })
    });
    c.bench_function("stat record + elapsed clock read", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            collector.record(
                &target,
                &funcs[0],
                peer,
                CallOutcome::Success(start.elapsed()),
            );
        })
    });
    std::hint::black_box(collector.take());
}

criterion_group!(benches, record);
criterion_main!(benches);
