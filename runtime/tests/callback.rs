//! Callback-form calls (`ServantProxy::call_callback`) on async-callback threads, and call
//! futures on tokio and under `block_on`, against our server on 127.0.0.1.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tars::client::{
    block_on, AsyncThreads, CallError, CallOptions, Reply, ReplyBody, ServantProxy,
    ASYNC_THREAD_PREFIX,
};
use tars::packet::ParamWriter;
use tars::server::Server;
use tars_test_support::servants::string_param;
use tars_test_support::servants::FAIL_CODE;
use tars_test_support::{one_servant, proxy, serve, wait_until, ContextEcho, Echo};

const OBJ: &str = "Test.Callback.EchoObj";
const CTX_OBJ: &str = "Test.Callback.ContextObj";
/// Bounds every wait for a callback (never reached when things work).
const LIMIT: Duration = Duration::from_secs(20);

/// A server with an [`Echo`] under [`OBJ`] and a [`ContextEcho`] under [`CTX_OBJ`]; the
/// proxy calls the `Echo`.
fn start() -> (Server, Arc<Echo>, ServantProxy) {
    let echo = Arc::new(Echo::default());
    let mut servants = one_servant(OBJ, echo.clone());
    servants.add(CTX_OBJ, Arc::new(ContextEcho));
    let (server, port) = serve(servants, 2);
    (server, echo, proxy(OBJ, port))
}

/// A proxy to the [`ContextEcho`] of `server`.
fn context_proxy(server: &Server) -> ServantProxy {
    let port = server
        .local_addr(tars_test_support::net::ADAPTER)
        .expect("bound")
        .port();
    proxy(CTX_OBJ, port)
}

fn read_string(reply: ReplyBody) -> Result<String, CallError> {
    Ok(reply.reader().read_return::<String>()?)
}

fn ignore(_: ReplyBody) -> Result<(), CallError> {
    Ok(())
}

/// The outcome of a callback and the name of the thread it ran on.
type Seen<T> = (Result<T, CallError>, String);

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string()
}

/// Calls `func(s)` in callback form and returns what the callback saw.
fn callback_call(proxy: &ServantProxy, func: &str, s: &str, opts: &CallOptions) -> Seen<String> {
    let (tx, rx) = mpsc::channel();
    proxy.call_callback(func, string_param(s), opts, read_string, move |r| {
        let _ = tx.send((r, thread_name()));
    });
    rx.recv_timeout(LIMIT).expect("the callback runs")
}

#[test]
fn a_callback_runs_on_an_async_thread_with_the_results() {
    let (server, _, proxy) = start();
    // The process-wide pool.
    let (result, thread) = callback_call(&proxy, "echo", "hi", &CallOptions::new());
    assert_eq!(result.unwrap(), "hi");
    assert!(thread.starts_with(ASYNC_THREAD_PREFIX), "ran on {thread:?}");
    // A pool of the caller's.
    let pool = AsyncThreads::new(3).unwrap();
    let proxy = proxy.with_async_threads(pool.clone());
    let (result, thread) = callback_call(
        &proxy,
        "echo",
        "there",
        &CallOptions::new().context("tag", "#"),
    );
    assert_eq!(result.unwrap(), "#there");
    assert!(
        ["tars-async-0", "tars-async-1", "tars-async-2"].contains(&thread.as_str()),
        "{thread:?}"
    );
    wait_until("the pool is idle", LIMIT, || pool.pending() == 0);
    // tars_ping in callback form.
    let (tx, rx) = mpsc::channel();
    proxy.tars_ping_callback(move |r| {
        let _ = tx.send((r, thread_name()));
    });
    let (result, thread) = rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(result, Ok(()));
    assert!(thread.starts_with(ASYNC_THREAD_PREFIX));
    server.shutdown();
}

#[test]
fn a_callback_gets_the_errors_of_its_call() {
    let (server, echo, proxy) = start();
    // A server error: `fail` answers the business code.
    let (result, thread) = callback_call(&proxy, "fail", "", &CallOptions::new());
    assert!(
        matches!(
            result,
            Err(CallError::Server {
                code: FAIL_CODE,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(thread.starts_with(ASYNC_THREAD_PREFIX));
    // A timeout: `park` is never answered.
    let (result, thread) = callback_call(
        &proxy,
        "park",
        "",
        &CallOptions::new().timeout(Duration::from_millis(100)),
    );
    assert_eq!(result, Err(CallError::Timeout(100)));
    assert!(thread.starts_with(ASYNC_THREAD_PREFIX));
    // An unknown function.
    let (result, _) = callback_call(&proxy, "nope", "", &CallOptions::new());
    assert_eq!(result.map_err(|e| e.code()), Err(-3));
    drop(echo.parked());
    server.shutdown();
}

#[test]
fn a_panicking_callback_does_not_stop_the_next_ones() {
    let (server, _, proxy) = start();
    // One thread: the callbacks after the panics must run on the very thread that panicked.
    let pool = AsyncThreads::new(1).unwrap();
    let proxy = proxy.with_async_threads(pool.clone());
    let (tx, rx) = mpsc::channel();
    for i in 0..6 {
        let tx = tx.clone();
        proxy.call_callback(
            "echo",
            string_param(&i.to_string()),
            &CallOptions::new(),
            read_string,
            move |r| {
                if i % 2 == 0 {
                    panic!("callback {i} panics");
                }
                let _ = tx.send((r, thread_name()));
            },
        );
    }
    drop(tx);
    let mut seen: Vec<(String, String)> = (0..3)
        .map(|_| {
            let (r, thread) = rx
                .recv_timeout(LIMIT)
                .expect("the callbacks that do not panic");
            (r.unwrap(), thread)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ["1", "3", "5"]
            .iter()
            .map(|s| (s.to_string(), "tars-async-0".to_string()))
            .collect::<Vec<_>>()
    );
    wait_until("the pool is idle", LIMIT, || pool.pending() == 0);
    // And still serving.
    let (result, thread) = callback_call(&proxy, "echo", "after", &CallOptions::new());
    assert_eq!(
        (result.unwrap(), thread.as_str()),
        ("after".into(), "tars-async-0")
    );
    assert_eq!(pool.threads(), 1);
    server.shutdown();
}

#[test]
fn ten_thousand_callbacks_in_flight_each_run_exactly_once() {
    const N: usize = 10_000;
    let (server, _, proxy) = start();
    let pool = AsyncThreads::new(2).unwrap();
    let proxy = proxy.with_async_threads(pool.clone());
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    let failures = Arc::new(AtomicUsize::new(0));
    let opts = CallOptions::new().timeout(Duration::from_secs(60));
    for i in 0..N {
        let (runs, failures) = (runs.clone(), failures.clone());
        proxy.call_callback(
            "echo",
            string_param(&i.to_string()),
            &opts,
            read_string,
            move |r| {
                // The index comes back from the server: each reply reaches its own callback.
                match r.ok().and_then(|s| s.parse::<usize>().ok()) {
                    Some(j) if j == i && thread_name().starts_with(ASYNC_THREAD_PREFIX) => {
                        runs[j].fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            },
        );
    }
    wait_until("every callback ran", Duration::from_secs(120), || {
        pool.pending() == 0
    });
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    let not_once: Vec<usize> = (0..N)
        .filter(|&i| runs[i].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        not_once.is_empty(),
        "{} callbacks did not run exactly once (first: {:?})",
        not_once.len(),
        not_once.first()
    );
    server.shutdown();
}

#[test]
fn futures_complete_under_block_on() {
    let (server, _, proxy) = start();
    let fut = proxy.call_async("echo", string_param("b"), &CallOptions::new(), read_string);
    assert_eq!(block_on(fut).unwrap(), "b");
    block_on(proxy.tars_ping_async()).unwrap();
    let fut = proxy.call_async(
        "park",
        ParamWriter::tars(),
        &CallOptions::new().timeout(Duration::from_millis(50)),
        ignore,
    );
    assert_eq!(block_on(fut), Err(CallError::Timeout(50)));
    server.shutdown();
}

#[test]
fn the_response_context_comes_back_with_the_value() {
    let (server, _, _) = start();
    let proxy = context_proxy(&server).with_context("from", "proxy");
    fn context(reply: ReplyBody) -> Result<Reply<i32>, CallError> {
        Reply::decode(reply, |r| Ok(r.reader().read_return::<i32>()?))
    }
    let opts = CallOptions::new().context("call", "1");
    let reply = block_on(proxy.call_async("context", ParamWriter::tars(), &opts, context)).unwrap();
    assert_eq!(reply.value, 0);
    assert_eq!(reply.context.get("from").map(|v| v.as_str()), Some("proxy"));
    assert_eq!(reply.context.get("call").map(|v| v.as_str()), Some("1"));
    let (tx, rx) = mpsc::channel();
    proxy.call_callback("context", ParamWriter::tars(), &opts, context, move |r| {
        let _ = tx.send(r);
    });
    let reply = rx.recv_timeout(LIMIT).unwrap().unwrap();
    assert_eq!(reply.context.get("call").map(|v| v.as_str()), Some("1"));
    assert_eq!(reply.map(|v| v + 1).into_value(), 1);
    server.shutdown();
}

#[tokio::test(flavor = "current_thread")]
async fn futures_are_awaited_on_a_current_thread_tokio_runtime() {
    let (server, echo, proxy) = start();
    let got = proxy
        .call_async(
            "echo",
            string_param("tokio"),
            &CallOptions::new(),
            read_string,
        )
        .await;
    assert_eq!(got.unwrap(), "tokio");
    proxy.tars_ping_async().await.unwrap();
    let timed_out = proxy
        .call_async(
            "park",
            ParamWriter::tars(),
            &CallOptions::new().timeout(Duration::from_millis(50)),
            ignore,
        )
        .await;
    assert_eq!(timed_out, Err(CallError::Timeout(50)));
    drop(echo.parked());
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_are_spawned_on_a_multi_thread_tokio_runtime() {
    let (server, _, proxy) = start();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(proxy.call_async(
                "echo",
                string_param(&i.to_string()),
                &CallOptions::new(),
                read_string,
            ))
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), i.to_string());
    }
    // A timeout fires while tokio's own timer runs next to it.
    let parked = proxy.call_async(
        "park",
        ParamWriter::tars(),
        &CallOptions::new().timeout(Duration::from_millis(50)),
        ignore,
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), parked).await;
    assert_eq!(outcome.ok(), Some(Err(CallError::Timeout(50))));
    server.shutdown();
}

/// A communicator owns the callback threads of its proxies: with `with_async_threads(1)`, a
/// callback that blocks holds back the next one (the process-wide pool has 2 threads, so this
/// shows the proxy uses the communicator's pool).
#[test]
fn a_communicator_runs_its_proxies_callbacks_on_its_own_threads() {
    let (server, _echo, _plain) = start();
    let port = server
        .local_addr(tars_test_support::net::ADAPTER)
        .expect("bound")
        .port();
    let comm = tars::client::Communicator::new().with_async_threads(1);
    let proxy = comm
        .string_to_proxy(&tars_test_support::proxy_string(OBJ, port))
        .unwrap();
    let (release, released) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let first = tx.clone();
    proxy.call_callback(
        "echo",
        string_param("1"),
        &CallOptions::new(),
        read_string,
        move |r| {
            let _ = first.send((r, thread_name()));
            let _ = released.recv_timeout(LIMIT);
        },
    );
    let (r, name) = rx.recv_timeout(LIMIT).expect("the first callback runs");
    assert_eq!(r.unwrap(), "1");
    assert!(name.starts_with(ASYNC_THREAD_PREFIX), "{name}");
    proxy.call_callback(
        "echo",
        string_param("2"),
        &CallOptions::new(),
        read_string,
        move |r| {
            let _ = tx.send((r, thread_name()));
        },
    );
    // Answered long before this, but its callback waits for the pool's only thread.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    release.send(()).unwrap();
    let (r, second) = rx.recv_timeout(LIMIT).expect("the second callback runs");
    assert_eq!((r.unwrap(), second), ("2".to_owned(), name));
    server.shutdown();
}
