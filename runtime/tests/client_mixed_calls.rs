//! Synchronous callers write their requests straight to an idle connection while the net
//! thread writes queued asynchronous ones: under a mix of both, with requests large enough to
//! fill the socket buffers (partial writes), every frame arrives whole and every reply matches
//! its call.

use std::sync::Arc;
use std::time::Duration;

use tars::client::{block_on, CallOptions, Communicator, NetConfig};
use tars::server::ServerConfig;
use tars_test_support::servants::string_param;
use tars_test_support::{one_servant, serve_on, Echo};

const OBJ: &str = "Test.Mixed.EchoObj";

#[test]
fn sync_and_async_calls_on_one_connection_never_interleave_frames() {
    // Replies of megabytes pile up while the client is busy writing: let the server queue
    // them instead of cutting the client off as a slow reader.
    let config = ServerConfig {
        max_write_buffer: 1 << 30,
        ..ServerConfig::default()
    };
    let (server, port) = serve_on(0, one_servant(OBJ, Arc::new(Echo::default())), 2, config);
    // The bursts below queue more than the default 16 MiB on the client too.
    let net = NetConfig {
        max_send_buffer: 1 << 30,
        ..NetConfig::default()
    };
    let proxy = Communicator::new()
        .with_net_config(net)
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port}"))
        .unwrap();
    let opts = CallOptions::new().timeout(Duration::from_secs(30));
    let sizes = [10, 3_000, 70_000, 400_000, 3_000_000];
    let sync_threads: Vec<_> = (0..4)
        .map(|t| {
            let (proxy, opts) = (proxy.clone(), opts.clone());
            std::thread::spawn(move || {
                for i in 0..60 {
                    let size = sizes[(i + t) % sizes.len()];
                    let s = format!("{t}-{i}-{}", "s".repeat(size));
                    let reply = proxy.invoke_sync("echo", string_param(&s), &opts).unwrap();
                    assert_eq!(reply.reader().read_return::<String>().unwrap(), s);
                }
            })
        })
        .collect();
    let async_threads: Vec<_> = (0..2)
        .map(|t| {
            let (proxy, opts) = (proxy.clone(), opts.clone());
            std::thread::spawn(move || {
                for round in 0..6 {
                    let calls: Vec<_> = (0..20)
                        .map(|i| {
                            let size = sizes[(i + round) % sizes.len()];
                            let s = format!("a{t}-{round}-{i}-{}", "a".repeat(size));
                            let f = proxy.invoke_async("echo", string_param(&s), &opts);
                            (s, f)
                        })
                        .collect();
                    for (s, f) in calls {
                        let reply = block_on(f).unwrap();
                        assert_eq!(reply.reader().read_return::<String>().unwrap(), s);
                    }
                }
            })
        })
        .collect();
    for t in sync_threads.into_iter().chain(async_threads) {
        t.join().unwrap();
    }
    server.shutdown();
}
