//! The session store's costs: one commit (durable: with its fsync) of a batch of session
//! changes, as the group-commit writer makes them, without lingering. Wall-clock times: the
//! durable ones depend on the disk's fsync latency.
//!
//! `cargo bench -p tars-coordinator --bench store`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tars_coordinator::core::Journal;
use tars_coordinator::session::{BranchSession, GlobalSession};
use tars_coordinator::store::{GroupCommit, SessionStore};
use tars_protocols::tarstx::{BranchStatus, BranchType, GlobalStatus};

fn session(n: u64) -> GlobalSession {
    let branch = |i: i64| BranchSession {
        branch_id: (n as i64) * 2 + i,
        branch_type: BranchType::TCC,
        resource_id: format!("TxBench.Rm{i}.ParticipantObj@tcp -h 127.0.0.1 -p 40000 -t 3000"),
        client_id: "tx-bench".into(),
        lock_keys: String::new(),
        application_data: String::new(),
        status: BranchStatus::Registered,
    };
    GlobalSession {
        xid: format!("7:1:{n}"),
        application_id: "tx-bench".into(),
        owner: String::new(),
        transaction_name: "bench".into(),
        status: GlobalStatus::Begin,
        active: true,
        began: Instant::now(),
        begin_time_ms: 1_800_000_000_000,
        timeout: Duration::from_secs(60),
        branches: vec![branch(1), branch(2)],
    }
}

/// A batch of `n` changes like the benchmark's steady state: new sessions put, and as many
/// older ones removed, so the table keeps its size.
fn batch(store: &SessionStore, next: &mut u64, n: u64) {
    for _ in 0..n {
        store.put(&session(*next));
        if *next >= 256 {
            store.remove(&format!("7:1:{}", *next - 256));
        }
        *next += 1;
    }
    store.sync().expect("sync");
}

fn store(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    let dir = tempfile::tempdir().expect("dir");
    let (store, _) = SessionStore::open(&dir.path().join("bench.redb")).expect("open");
    // The raw cost of a commit: no lingering for more changes.
    store.set_group_commit(GroupCommit::NO_LINGER);
    let mut next = 0;
    batch(&store, &mut next, 256);
    for n in [1u64, 8, 32] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(
            BenchmarkId::new("durable commit, puts+removes", n),
            &n,
            |b, &n| b.iter(|| batch(&store, &mut next, n)),
        );
    }
    let (mem, _) = SessionStore::in_memory().expect("in memory");
    mem.set_group_commit(GroupCommit::NO_LINGER);
    let mut next = 0;
    batch(&mem, &mut next, 256);
    g.throughput(Throughput::Elements(32));
    g.bench_function("in-memory commit, 32 puts+removes", |b| {
        b.iter(|| batch(&mem, &mut next, 32))
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
