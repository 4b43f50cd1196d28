//! Small servants for tests, written against [`Dispatch`] directly (no IDL), and typed calls
//! to them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::client::{CallError, CallOptions, ServantProxy};
use tars::packet::{ParamReader, ParamWriter};
use tars::server::{Current, Dispatch, DispatchError, Responder, ServantError};
use tars::TarsString;

use crate::wait::Gate;

/// The echo servant. Functions (parameters at tag 1):
///
/// - `string echo(string s)`: `s`, prefixed by the request context's `tag` entry if any;
/// - `int echo_out(string s, out string r)` (out parameter at tag 2): the length of `s`, and
///   `r` = `s` prefixed by the request context's `prefix` entry if any; the response context
///   gets `seen` = the length;
/// - `int sleep(int ms)`: sleeps `ms` milliseconds, then returns `ms`;
/// - `int sleeping()`: how many `sleep` calls are running now;
/// - `int later(int x)`: `2 * x`, replied 20 ms later from another thread (deferred reply);
/// - `void park()`: never answered (the responder is kept, see [`Echo::parked`]);
/// - `void notify()`: counts (meant for one-way calls); `int count()`: how many so far;
/// - `void fail()`: fails with the business code -42.
#[derive(Debug, Default)]
pub struct Echo {
    calls: AtomicUsize,
    notified: AtomicUsize,
    sleeping: AtomicUsize,
    parked: Mutex<Vec<Responder>>,
}

/// The business code of `fail`.
pub const FAIL_CODE: i32 = -42;

impl Echo {
    /// Calls dispatched so far (every function).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// `sleep` calls running now.
    pub fn sleeping(&self) -> usize {
        self.sleeping.load(Ordering::SeqCst)
    }

    /// `notify` calls so far.
    pub fn notified(&self) -> usize {
        self.notified.load(Ordering::SeqCst)
    }

    /// The responders of the `park` calls so far (taken out: answer or drop them).
    pub fn parked(&self) -> Vec<Responder> {
        std::mem::take(&mut *self.parked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn count(n: &AtomicUsize) -> i32 {
    i32::try_from(n.load(Ordering::SeqCst)).unwrap_or(i32::MAX)
}

/// Decrements `sleeping` when the sleep ends, however it ends.
struct Sleeping<'a>(&'a AtomicUsize);

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Dispatch for Echo {
    fn functions(&self) -> &'static [&'static str] {
        &[
            "count",
            "echo",
            "echo_out",
            "fail",
            "later",
            "notify",
            "park",
            "principal",
            "sleep",
            "sleeping",
        ]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match current.func_name() {
            "echo" => {
                let s: String = params.read(1, "s")?;
                let tag = current.context().get("tag").cloned().unwrap_or_default();
                out.write_return(&format!("{tag}{s}"));
            }
            "echo_out" => {
                let s: String = params.read(1, "s")?;
                let prefix = current.context().get("prefix").cloned().unwrap_or_default();
                let len = i32::try_from(s.len()).unwrap_or(i32::MAX);
                current.set_response_context("seen", len.to_string());
                out.write_return(&len);
                out.write(2, "r", &format!("{prefix}{s}"));
            }
            "sleep" => {
                let ms: i32 = params.read(1, "ms")?;
                self.sleeping.fetch_add(1, Ordering::SeqCst);
                let _sleeping = Sleeping(&self.sleeping);
                std::thread::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
                out.write_return(&ms);
            }
            "sleeping" => out.write_return(&count(&self.sleeping)),
            // Who the caller proved to be ("" when anonymous).
            "principal" => out.write_return(&current.principal().unwrap_or_default().to_owned()),
            "later" => {
                let x: i32 = params.read(1, "x")?;
                let responder = current
                    .defer()
                    .ok_or_else(|| ServantError::unknown("cannot defer"))?;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    let mut w = responder.result_writer();
                    w.write_return(&x.wrapping_mul(2));
                    responder.send_ok(w);
                });
            }
            "park" => {
                let responder = current
                    .defer()
                    .ok_or_else(|| ServantError::unknown("cannot defer"))?;
                self.parked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(responder);
            }
            "notify" => {
                self.notified.fetch_add(1, Ordering::SeqCst);
            }
            "count" => out.write_return(&count(&self.notified)),
            "fail" => return Err(ServantError::new(FAIL_CODE, "business failure").into()),
            other => return Err(DispatchError::NoFunc(other.into())),
        }
        Ok(())
    }
}

/// Answers with its name, to tell servers apart: `string who()`; `string slow(int ms)` first
/// sleeps `ms` milliseconds or, for a [`Who::gated`], waits for its gate (at most `ms`
/// milliseconds).
#[derive(Debug, Clone)]
pub struct Who {
    name: String,
    gate: Option<Arc<Gate>>,
}

impl Who {
    /// A `Who` named `name`.
    pub fn new(name: impl Into<String>) -> Who {
        Who {
            name: name.into(),
            gate: None,
        }
    }

    /// A `Who` named `name` whose `slow(ms)` calls wait until `gate` is open (`ms` bounds the
    /// wait), so a call stays in flight as long as the test keeps the gate closed.
    pub fn gated(name: impl Into<String>, gate: Arc<Gate>) -> Who {
        Who {
            name: name.into(),
            gate: Some(gate),
        }
    }
}

impl Dispatch for Who {
    fn functions(&self) -> &'static [&'static str] {
        &["slow", "who"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "who" => {}
            "slow" => {
                let ms: i32 = params.read(1, "ms")?;
                let ms = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
                match &self.gate {
                    Some(gate) => {
                        gate.wait(ms);
                    }
                    None => std::thread::sleep(ms),
                }
            }
            other => return Err(DispatchError::NoFunc(other.into())),
        }
        out.write_return(&self.name);
        Ok(())
    }
}

/// `int context()`: answers 0 with the request context copied into the response context.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContextEcho;

impl Dispatch for ContextEcho {
    fn functions(&self) -> &'static [&'static str] {
        &["context"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        _params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        let seen: Vec<(TarsString, TarsString)> = current
            .context()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in seen {
            current.set_response_context(k, v);
        }
        out.write_return(&0i32);
        Ok(())
    }
}

/// Parameters with one string `s` at tag 1 (`echo`).
pub fn string_param(s: &str) -> ParamWriter {
    let mut w = ParamWriter::tars();
    w.write_str(1, "s", s);
    w
}

/// Parameters with one int `name` at tag 1 (`sleep`, `later`, `slow`).
pub fn int_param(name: &str, v: i32) -> ParamWriter {
    let mut w = ParamWriter::tars();
    w.write(1, name, &v);
    w
}

/// `echo(s)` on an [`Echo`].
pub fn echo(p: &ServantProxy, s: &str) -> Result<String, CallError> {
    let reply = p.invoke_sync("echo", string_param(s), &CallOptions::new())?;
    Ok(reply.reader().read_return::<String>()?)
}

/// `sleep(ms)` on an [`Echo`].
pub fn sleep(p: &ServantProxy, ms: i32) -> Result<i32, CallError> {
    let reply = p.invoke_sync("sleep", int_param("ms", ms), &CallOptions::new())?;
    Ok(reply.reader().read_return::<i32>()?)
}

/// `sleeping()` on an [`Echo`].
pub fn sleeping(p: &ServantProxy) -> Result<i32, CallError> {
    let reply = p.invoke_sync("sleeping", ParamWriter::tars(), &CallOptions::new())?;
    Ok(reply.reader().read_return::<i32>()?)
}

/// `who()` on a [`Who`], with `opts`.
pub fn who(p: &ServantProxy, opts: &CallOptions) -> Result<String, CallError> {
    let reply = p.invoke_sync("who", ParamWriter::tars(), opts)?;
    Ok(reply.reader().read_return::<String>()?)
}
