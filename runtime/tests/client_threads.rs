//! Client net threads end with their communicator and proxies. Alone in its test binary: it
//! counts the process's `tars-client-net-*` threads, which other tests running in parallel
//! would start and stop.

use std::sync::Arc;
use std::time::Duration;

use tars::client::{CallOptions, Communicator};
use tars_test_support::servants::string_param;
use tars_test_support::{one_servant, serve, Echo};

const OBJ: &str = "Test.Threads.EchoObj";

/// Net threads end with their communicator and proxies: nothing keeps a thread per proxy
/// alive.
#[test]
fn net_threads_stop_with_their_proxies() {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("tars-client-net"))
            .count()
    };
    let before = count();
    let (server, port) = serve(one_servant(OBJ, Arc::new(Echo::default())), 1);
    {
        let comm = Communicator::new().with_net_threads(3);
        let proxy = comm
            .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port}"))
            .unwrap();
        drop(comm);
        proxy
            .invoke_sync("echo", string_param("x"), &CallOptions::new())
            .unwrap();
        // A thread takes its name when it first runs (on a busy machine, a moment after
        // it was spawned).
        tars_test_support::poll_until("3 net threads run", Duration::from_secs(5), || {
            (count() >= before + 3).then_some(())
        });
    }
    tars_test_support::poll_until("net threads exit", Duration::from_secs(5), || {
        (count() <= before).then_some(())
    });
    server.shutdown();
}
