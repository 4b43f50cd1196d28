//! The generated proxy's call forms against a real server on 127.0.0.1: `op_callback` on an
//! async-callback thread, `op_reply` / `op_reply_async` / `op_reply_callback` with the
//! response context, and `tars_ping` in its three forms.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::client::{block_on, AsyncThreads, CallError, Communicator, ASYNC_THREAD_PREFIX};
use tars::server::{
    AdapterConfig, Current, Endpoint, Responder, ServantError, Servants, Server, ServerConfig,
};
use tars::TarsString;

#[allow(clippy::all, missing_docs)]
mod generated {
    include!("golden/Demo.rs");
}
use generated::{Demo, Types};

const OBJ: &str = "Test.PaintServer.PainterObj";
const ADAPTER: &str = "PaintAdapter";
/// Bounds every wait for a callback (never reached when things work).
const LIMIT: Duration = Duration::from_secs(20);

/// Copies the request context into the response context (adding `painted` = the shape's
/// name); a shape named `park` is never answered.
#[derive(Default)]
struct ContextPainter {
    parked: Mutex<Vec<Responder>>,
}

impl Demo::Painter for ContextPainter {
    fn draw(
        &self,
        current: &mut Current,
        s: Demo::Shape,
    ) -> Result<(i32, TarsString), ServantError> {
        if s.name == "park" {
            let responder = current
                .defer()
                .ok_or_else(|| ServantError::unknown("cannot defer"))?;
            self.parked.lock().unwrap().push(responder);
            return Ok((0, TarsString::default()));
        }
        let context: Vec<_> = current
            .context()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in context {
            current.set_response_context(k, v);
        }
        current.set_response_context("painted", s.name.clone());
        Ok((s.points.len() as i32, format!("drew {}", s.name).into()))
    }

    fn clear(&self, _current: &mut Current) -> Result<(), ServantError> {
        Err(ServantError::new(-50, "nothing to clear"))
    }

    fn find(
        &self,
        _current: &mut Current,
        _name: TarsString,
    ) -> Result<(bool, Vec<Demo::Point>, i32), ServantError> {
        Ok((true, vec![], 0))
    }

    fn tag(
        &self,
        _current: &mut Current,
        _params: i32,
        _ret: Demo::Color,
    ) -> Result<Types::Tag, ServantError> {
        Ok(Types::Tag::default())
    }

    fn notify(&self, _current: &mut Current, _message: TarsString) -> Result<(), ServantError> {
        Ok(())
    }
}

fn start() -> (Server, Arc<ContextPainter>, Demo::PainterProxy) {
    let painter = Arc::new(ContextPainter::default());
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(Demo::PainterServant(painter.clone())));
    let adapter = AdapterConfig::new(ADAPTER, Endpoint::tcp("127.0.0.1", 0), Arc::new(servants));
    let server = Server::start(ServerConfig::default(), vec![adapter]).expect("server starts");
    let port = server.local_addr(ADAPTER).expect("bound").port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port} -t 3000"))
        .expect("proxy");
    (server, painter, Demo::PainterProxy::new(proxy))
}

fn shape(name: &str, points: usize) -> Demo::Shape {
    Demo::Shape {
        name: name.into(),
        points: vec![Demo::Point { x: 1, y: 1 }; points],
        ..Default::default()
    }
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string()
}

fn context_entry<T>(reply: &tars::client::Reply<T>, key: &str) -> Option<String> {
    reply.context.get(key).map(|v| v.to_string())
}

#[test]
fn op_callback_runs_on_an_async_thread_with_results_or_errors() {
    let (server, painter, proxy) = start();
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    proxy.draw_callback(&shape("square", 4), move |r| {
        let _ = t.send(format!("{r:?} on {}", thread_name()));
    });
    let seen = rx.recv_timeout(LIMIT).unwrap();
    assert!(
        seen.starts_with(&format!(
            "Ok((4, \"drew square\")) on {ASYNC_THREAD_PREFIX}"
        )),
        "{seen}"
    );
    // A server error.
    let t = tx.clone();
    proxy.clear_callback(move |r| {
        let _ = t.send(format!("{r:?}"));
    });
    let seen = rx.recv_timeout(LIMIT).unwrap();
    assert!(seen.contains("code: -50"), "{seen}");
    // A timeout, on a pool of the caller's.
    let pool = AsyncThreads::new(1).unwrap();
    let short = Demo::PainterProxy::new(proxy.servant_proxy().with_async_threads(pool))
        .with_timeout(Duration::from_millis(100));
    let t = tx.clone();
    short.draw_callback(&shape("park", 0), move |r| {
        let _ = t.send(format!("{r:?} on {}", thread_name()));
    });
    assert_eq!(
        rx.recv_timeout(LIMIT).unwrap(),
        "Err(Timeout(100)) on tars-async-0"
    );
    // tars_ping in its three forms, with the proxy's options.
    proxy.tars_ping().unwrap();
    block_on(proxy.tars_ping_async()).unwrap();
    short.tars_ping_callback(move |r| {
        let _ = tx.send(format!("{r:?} on {}", thread_name()));
    });
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "Ok(()) on tars-async-0");
    drop(painter.parked.lock().unwrap().drain(..));
    server.shutdown();
}

#[test]
fn op_reply_forms_return_the_response_context() {
    let (server, _, proxy) = start();
    let proxy = proxy.with_context("trace", "t-1");
    // Sync.
    let reply = proxy.draw_reply(&shape("sync", 2)).unwrap();
    assert_eq!(reply.value, (2, TarsString::from("drew sync")));
    assert_eq!(context_entry(&reply, "trace").as_deref(), Some("t-1"));
    assert_eq!(context_entry(&reply, "painted").as_deref(), Some("sync"));
    // Async.
    let reply = block_on(proxy.draw_reply_async(&shape("async", 3))).unwrap();
    assert_eq!(reply.value.0, 3);
    assert_eq!(context_entry(&reply, "painted").as_deref(), Some("async"));
    // Callback.
    let (tx, rx) = mpsc::channel();
    proxy.draw_reply_callback(&shape("callback", 1), move |r| {
        let _ = tx.send((r, thread_name()));
    });
    let (reply, thread) = rx.recv_timeout(LIMIT).unwrap();
    let reply = reply.unwrap();
    assert!(thread.starts_with(ASYNC_THREAD_PREFIX), "{thread}");
    assert_eq!(reply.value, (1, TarsString::from("drew callback")));
    assert_eq!(context_entry(&reply, "trace").as_deref(), Some("t-1"));
    assert_eq!(
        context_entry(&reply, "painted").as_deref(),
        Some("callback")
    );
    // Errors stay errors.
    assert!(matches!(
        proxy.clear_reply(),
        Err(CallError::Server { code: -50, .. })
    ));
    // TUP replies carry the context too.
    let tup = proxy.with_tup(tars::packet::TupVersion::Simple);
    let reply = tup.draw_reply(&shape("tup", 0)).unwrap();
    assert_eq!(context_entry(&reply, "painted").as_deref(), Some("tup"));
    server.shutdown();
}
