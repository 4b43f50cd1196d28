//! Registry benchmarks: lookups/s and one heartbeat round of 10,000 instances, in-process and
//! over TCP (127.0.0.1) through the generated proxies. `cargo bench -p tars-registry`;
//! results in `services/registry/BENCH.md`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tars::client::{block_on, Communicator};
use tars_protocols::tars::{EndpointF, QueryFProxy};
use tars_protocols::tarsrs::{DynamicMeta, Instance, InstanceFilter, RegistryProxy};
use tars_registry::service::ADAPTER;
use tars_registry::{Registry, RegistryConfig, RegistryService, QUERY_OBJ, REGISTRY_OBJ};

const INSTANCES: i32 = 10_000;
const OBJECTS: i32 = 100;

fn instance(n: i32) -> Instance {
    Instance {
        obj_name: format!("App.Server{}.Obj", n % OBJECTS).into(),
        endpoint: EndpointF {
            host: format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256).into(),
            port: 10_000,
            timeout: 3000,
            istcp: 1,
            ..EndpointF::default()
        },
        ..Instance::default()
    }
}

fn all_instances() -> Vec<Instance> {
    (0..INSTANCES).map(instance).collect()
}

fn in_process(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry =
        Registry::open(&dir.path().join("r.redb"), Duration::from_secs(3600)).expect("open");
    registry.register_all(all_instances()).expect("register");

    let mut g = c.benchmark_group("in-process");
    g.throughput(Throughput::Elements(1));
    let mut n = 0;
    g.bench_function("lookup endpoints of 1 object (100 instances)", |b| {
        b.iter(|| {
            n += 1;
            registry.endpoints(&format!("App.Server{}.Obj", n % OBJECTS), |_| true)
        })
    });
    let filter = InstanceFilter {
        obj_name: "App.Server7.Obj".into(),
        ..InstanceFilter::default()
    };
    g.bench_function("list with filter (100 instances)", |b| {
        b.iter(|| registry.list(&filter))
    });
    g.throughput(Throughput::Elements(INSTANCES as u64));
    let load = DynamicMeta::default();
    g.bench_function("heartbeat round of 10,000 instances", |b| {
        b.iter(|| {
            for n in 0..INSTANCES {
                let i = instance(n);
                registry.heartbeat(&i.obj_name, &i.endpoint.host, i.endpoint.port, load.clone());
            }
        })
    });
    g.finish();
}

fn over_tcp(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let service = RegistryService::open(RegistryConfig {
        data_dir: dir.path().to_path_buf(),
        port: 0,
        heartbeat_timeout_ms: 3_600_000,
        ..RegistryConfig::default()
    })
    .expect("open");
    service
        .registry()
        .register_all(all_instances())
        .expect("register");
    let server = service.start().expect("start");
    let port = server.local_addr(ADAPTER).expect("bound").port();
    let at = |obj: &str| {
        Communicator::new()
            .string_to_proxy(&format!("{obj}@tcp -h 127.0.0.1 -p {port} -t 10000"))
            .expect("proxy")
    };
    let query = QueryFProxy::new(at(QUERY_OBJ));

    let mut g = c.benchmark_group("tcp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("findObjectById4Any, 1 call in flight", |b| {
        b.iter(|| {
            query
                .find_object_by_id4_any("App.Server7.Obj")
                .expect("find")
        })
    });
    g.throughput(Throughput::Elements(256));
    g.bench_function("findObjectById4Any, 256 in flight", |b| {
        b.iter(|| {
            let calls: Vec<_> = (0..256)
                .map(|n| {
                    query.find_object_by_id4_any_async(format!("App.Server{}.Obj", n % OBJECTS))
                })
                .collect();
            for call in calls {
                block_on(call).expect("find");
            }
        })
    });
    // 10,000 instances heartbeating: one round, spread over 4 connections, all in flight.
    let proxies: Vec<RegistryProxy> = (0..4)
        .map(|_| RegistryProxy::new(at(REGISTRY_OBJ)))
        .collect();
    let load = DynamicMeta::default();
    g.throughput(Throughput::Elements(INSTANCES as u64));
    g.sample_size(10);
    g.bench_function("heartbeat round of 10,000 instances (4 connections)", |b| {
        b.iter_batched(
            || (),
            |()| {
                let calls: Vec<_> = (0..INSTANCES)
                    .map(|n| {
                        let i = instance(n);
                        proxies[n as usize % proxies.len()].heartbeat_async(
                            &i.obj_name,
                            &i.endpoint.host,
                            i.endpoint.port,
                            &load,
                        )
                    })
                    .collect();
                for call in calls {
                    assert_eq!(block_on(call).expect("heartbeat"), 0);
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    server.shutdown();
}

criterion_group!(benches, in_process, over_tcp);
criterion_main!(benches);
