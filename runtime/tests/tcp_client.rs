//! Our client over TCP against our server on 127.0.0.1: sync / async / one-way calls,
//! timeouts, reconnection after a server restart, and endpoint fail-over.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::{block_on, CallError, CallOptions, Communicator};
use tars::packet::{ParamReader, ParamWriter};
use tars::server::{
    AdapterConfig, Current, Dispatch, DispatchError, Endpoint, Servants, Server, ServerConfig,
};

const OBJ: &str = "Test.Client.EchoObj";

#[derive(Default)]
struct Echo {
    notified: AtomicUsize,
}

impl Dispatch for Echo {
    fn functions(&self) -> &'static [&'static str] {
        &["echo", "sleep", "notify", "count"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "echo" => {
                let s: String = params.read(1, "s")?;
                let tag = current.context().get("tag").cloned().unwrap_or_default();
                out.write_return(&format!("{tag}{s}"));
            }
            "sleep" => {
                let ms: i32 = params.read(1, "ms")?;
                std::thread::sleep(Duration::from_millis(ms as u64));
            }
            "notify" => {
                self.notified.fetch_add(1, Ordering::SeqCst);
            }
            "count" => out.write_return(&(self.notified.load(Ordering::SeqCst) as i32)),
            other => return Err(DispatchError::NoFunc(other.into())),
        }
        Ok(())
    }
}

fn serve(port: u16) -> (Server, SocketAddr) {
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(Echo::default()));
    let mut a = AdapterConfig::new("A", Endpoint::tcp("127.0.0.1", port), Arc::new(servants));
    a.threads = 4;
    let server = Server::start(ServerConfig::default(), vec![a]).expect("server");
    let addr = server.local_addr("A").unwrap();
    (server, addr)
}

fn echo(s: &str) -> ParamWriter {
    let mut w = ParamWriter::tars();
    w.write_str(1, "s", s);
    w
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sync_async_oneway_and_context_over_tcp() {
    let (server, addr) = serve(0);
    let proxy = Communicator::new()
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {} -t 3000",
            addr.port()
        ))
        .unwrap()
        .with_context("tag", "#");
    let reply = proxy
        .invoke_sync("echo", echo("a"), &CallOptions::new())
        .unwrap();
    assert_eq!(reply.reader().read_return::<String>().unwrap(), "#a");
    // Many concurrent async calls on one connection, answered out of order by 4 threads.
    let futures: Vec<_> = (0..200)
        .map(|i| proxy.invoke_async("echo", echo(&i.to_string()), &CallOptions::new()))
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(
            block_on(f)
                .unwrap()
                .reader()
                .read_return::<String>()
                .unwrap(),
            format!("#{i}")
        );
    }
    for _ in 0..3 {
        proxy
            .invoke_oneway("notify", ParamWriter::tars(), &CallOptions::new())
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i32 = proxy
            .invoke_sync("count", ParamWriter::tars(), &CallOptions::new())
            .unwrap()
            .reader()
            .read_return()
            .unwrap();
        if n == 3 || Instant::now() > deadline {
            assert_eq!(n, 3, "one-way calls arrive");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        proxy
            .invoke_sync("nope", ParamWriter::tars(), &CallOptions::new())
            .unwrap_err()
            .code(),
        -3
    );
    server.shutdown();
}

#[test]
fn timeouts_and_reconnection() {
    let port = free_port();
    let (server, _) = serve(port);
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port} -t 1000"))
        .unwrap();
    let mut w = ParamWriter::tars();
    w.write(1, "ms", &500i32);
    let err = proxy
        .invoke_sync(
            "sleep",
            w,
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert_eq!(err, CallError::Timeout(100));
    server.shutdown();
    // The server is gone: calls fail with a transport error, promptly.
    let err = proxy
        .invoke_sync("echo", echo("x"), &CallOptions::new())
        .unwrap_err();
    assert!(matches!(err, CallError::Transport(_)), "{err:?}");
    // It comes back on the same port: the proxy reconnects.
    let (server, _) = serve(port);
    let reply = proxy
        .invoke_sync("echo", echo("back"), &CallOptions::new())
        .unwrap();
    assert_eq!(reply.reader().read_return::<String>().unwrap(), "back");
    server.shutdown();
}

#[test]
fn dead_endpoints_are_skipped() {
    let (server, addr) = serve(0);
    let dead = free_port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {dead} -t 500:tcp -h 127.0.0.1 -p {} -t 500",
            addr.port()
        ))
        .unwrap();
    for i in 0..6 {
        let reply = proxy
            .invoke_sync("echo", echo(&i.to_string()), &CallOptions::new())
            .unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    assert!(Communicator::new().string_to_proxy("NoEndpoints").is_err());
    assert!(Communicator::new()
        .string_to_proxy("Obj@tcp -h 127.0.0.1")
        .is_err());
    server.shutdown();
}
