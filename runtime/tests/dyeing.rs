//! Request dyeing across a chain of three servers A → B → C: a dyed request leaves a line in
//! the dyeing log of every hop (sync, async and callback calls made while serving it, and a
//! call made from a callback), an undyed one in none.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::client::{CallError, CallOptions, Communicator, ServantProxy};
use tars::dyeing::DyeingLog;
use tars::packet::{ParamReader, ParamWriter};
use tars::server::{Current, Dispatch, DispatchError, ServantError, Servants, ServerConfig};
use tars_test_support::{poll_until, proxy_string, serve_adapter};

/// How a hop calls the next one.
#[derive(Clone, Copy)]
enum Mode {
    /// `relay` synchronously.
    Sync,
    /// `relay` asynchronously, then `relay` in callback form whose callback sends `note`
    /// one-way.
    AsyncAndCallback,
}

struct Hop {
    next: Option<(ServantProxy, Mode)>,
    /// The dyeing key each `relay` / `note` request was seen with.
    seen: Mutex<Vec<Option<String>>>,
}

fn relay(proxy: &ServantProxy, s: &str) -> Result<String, CallError> {
    let mut w = proxy.param_writer();
    w.write(1, "s", &s.to_owned());
    let reply = proxy.invoke_sync("relay", w, &CallOptions::default())?;
    Ok(reply.reader().read_return()?)
}

impl Hop {
    fn forward(&self, s: String) -> Result<String, String> {
        let Some((next, mode)) = &self.next else {
            return Ok(s);
        };
        match mode {
            Mode::Sync => relay(next, &s).map_err(|e| e.to_string()),
            Mode::AsyncAndCallback => {
                let mut w = next.param_writer();
                w.write(1, "s", &s);
                let first =
                    tars::client::block_on(next.invoke_async("relay", w, &CallOptions::default()))
                        .map_err(|e| e.to_string())?;
                let first: String = first.reader().read_return().map_err(|e| e.to_string())?;
                let (tx, rx) = mpsc::channel();
                let mut w = next.param_writer();
                w.write(1, "s", &first);
                let from_callback = next.clone();
                next.call_callback(
                    "relay",
                    w,
                    &CallOptions::default(),
                    |reply| Ok(reply.reader().read_return::<String>()?),
                    move |r: Result<String, CallError>| {
                        // A call made from the callback keeps the dye of the call.
                        let _ = from_callback.invoke_oneway(
                            "note",
                            from_callback.param_writer(),
                            &CallOptions::default(),
                        );
                        let _ = tx.send(r);
                    },
                );
                rx.recv_timeout(Duration::from_secs(5))
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }
    }
}

impl Dispatch for Hop {
    fn functions(&self) -> &'static [&'static str] {
        &["note", "relay"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        self.seen
            .lock()
            .expect("lock")
            .push(current.dyeing_key().map(str::to_owned));
        match current.func_name() {
            "note" => Ok(()),
            "relay" => {
                let s: String = params.read(1, "s")?;
                let r = self.forward(s).map_err(ServantError::unknown)?;
                out.write_return(&r);
                Ok(())
            }
            other => Err(DispatchError::NoFunc(other.to_owned())),
        }
    }
}

struct Node {
    _server: tars::server::Server,
    port: u16,
    log: Arc<DyeingLog>,
    hop: Arc<Hop>,
}

fn node(obj: &str, dir: &Path, next: Option<(&Node, &str, Mode)>) -> Node {
    let log = Arc::new(DyeingLog::to_file(dir.join(format!("{obj}.dyeing.log"))).expect("log"));
    let comm = Communicator::new().with_dyeing_log(log.clone());
    let next = next.map(|(n, next_obj, mode)| {
        let proxy = comm
            .string_to_proxy(&proxy_string(next_obj, n.port))
            .expect("proxy");
        (proxy, mode)
    });
    let hop = Arc::new(Hop {
        next,
        seen: Mutex::new(Vec::new()),
    });
    let mut servants = Servants::new();
    servants.add(obj, hop.clone());
    let config = ServerConfig {
        dyeing_log: Some(log.clone()),
        ..ServerConfig::default()
    };
    let (server, port) = serve_adapter(0, servants, config, |a| a.threads = 2);
    Node {
        _server: server,
        port,
        log,
        hop,
    }
}

/// The lines of a dyeing log: `(side, key, object, function)`.
fn lines(log: &DyeingLog) -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(log.path())
        .expect("read log")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 6, "{l}");
            (f[1].into(), f[2].into(), f[3].into(), f[4].into())
        })
        .collect()
}

fn served(log: &DyeingLog) -> Vec<(String, String)> {
    lines(log)
        .into_iter()
        .filter(|l| l.0 == "server")
        .map(|l| (l.1, l.3))
        .collect()
}

#[test]
fn a_dyed_request_is_logged_on_every_hop_and_an_undyed_one_nowhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = node("Test.C.Obj", dir.path(), None);
    let b = node(
        "Test.B.Obj",
        dir.path(),
        Some((&c, "Test.C.Obj", Mode::AsyncAndCallback)),
    );
    let a = node(
        "Test.A.Obj",
        dir.path(),
        Some((&b, "Test.B.Obj", Mode::Sync)),
    );
    let client = Communicator::new()
        .string_to_proxy(&proxy_string("Test.A.Obj", a.port))
        .expect("proxy");

    // Undyed first: no hop logs anything.
    assert_eq!(relay(&client, "plain").expect("undyed"), "plain");
    poll_until("C served the undyed note", Duration::from_secs(5), || {
        (c.hop.seen.lock().expect("lock").len() == 3).then_some(())
    });
    for n in [&a, &b, &c] {
        assert!(lines(&n.log).is_empty(), "{:?}", lines(&n.log));
        assert!(n.hop.seen.lock().expect("lock").iter().all(Option::is_none));
    }

    // Dyed.
    let mut w = client.param_writer();
    w.write(1, "s", &"dyed".to_owned());
    let reply = client
        .invoke_sync("relay", w, &CallOptions::new().dyeing("user-42"))
        .expect("dyed call");
    assert_eq!(
        reply.reader().read_return::<String>().expect("result"),
        "dyed"
    );
    poll_until("C served the dyed note", Duration::from_secs(5), || {
        (served(&c.log).len() == 3).then_some(())
    });
    let key = |f: &str| ("user-42".to_owned(), f.to_owned());
    assert_eq!(served(&a.log), [key("relay")]);
    assert_eq!(served(&b.log), [key("relay")]);
    let mut at_c = served(&c.log);
    at_c.sort();
    assert_eq!(at_c, [key("note"), key("relay"), key("relay")]);
    // Client-side lines: A called B once, B called C three times (async, callback, note).
    let calls = |n: &Node| {
        lines(&n.log)
            .into_iter()
            .filter(|l| l.0 == "client")
            .inspect(|l| assert_eq!(l.1, "user-42"))
            .count()
    };
    assert_eq!((calls(&a), calls(&b), calls(&c)), (1, 3, 0));
    // What the servants saw through Current::dyeing_key().
    let dyed = |n: &Node| {
        n.hop
            .seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|k| k.as_deref() == Some("user-42"))
            .count()
    };
    assert_eq!((dyed(&a), dyed(&b), dyed(&c)), (1, 1, 3));

    // Undyed again: the dye did not stick to any thread.
    assert_eq!(relay(&client, "plain").expect("undyed"), "plain");
    poll_until(
        "C served the second undyed note",
        Duration::from_secs(5),
        || (c.hop.seen.lock().expect("lock").len() == 9).then_some(()),
    );
    assert_eq!(
        served(&a.log).len() + served(&b.log).len() + served(&c.log).len(),
        5
    );
}
