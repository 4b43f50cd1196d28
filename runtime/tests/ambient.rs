//! The ambient call context: entries set on a thread reach the servant of every proxy call made
//! on that thread, with the lowest priority, and guards restore what they replaced.

use std::collections::BTreeMap;
use std::sync::Arc;
use tars::TarsString;

use tars::client::{ambient, block_on, CallOptions, LocalInvoker, ServantProxy, XID_CONTEXT_KEY};
use tars::server::Servants;
use tars_test_support::ContextEcho;

const OBJ: &str = "Test.AmbientServer.EchoObj";

/// A `ContextEcho` (answers with the request context as its response context), called locally.
fn proxy() -> ServantProxy {
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(ContextEcho));
    ServantProxy::new(OBJ, Arc::new(LocalInvoker::new(Arc::new(servants))))
}

/// The context the servant saw on a synchronous call.
fn seen(proxy: &ServantProxy, opts: &CallOptions) -> BTreeMap<TarsString, TarsString> {
    proxy
        .invoke_sync("context", proxy.param_writer(), opts)
        .expect("call")
        .context()
        .clone()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<TarsString, TarsString> {
    entries
        .iter()
        .map(|(k, v)| (TarsString::from(*k), TarsString::from(*v)))
        .collect()
}

#[test]
fn no_ambient_entries_adds_nothing() {
    let p = proxy();
    assert!(ambient::is_empty());
    assert!(seen(&p, &CallOptions::new()).is_empty());
}

#[test]
fn server_sees_the_ambient_context() {
    let p = proxy();
    let _g = ambient::scope(XID_CONTEXT_KEY, "xid-1");
    let _h = ambient::scope("tenant", "t9");
    assert_eq!(
        seen(&p, &CallOptions::new()),
        map(&[(XID_CONTEXT_KEY, "xid-1"), ("tenant", "t9")])
    );
    // One-way calls carry it too (the servant runs inline on the LocalInvoker).
    p.invoke_oneway("context", p.param_writer(), &CallOptions::new())
        .expect("one-way");
}

#[test]
fn explicit_context_wins_over_ambient() {
    let p = proxy();
    let _g = ambient::scope(XID_CONTEXT_KEY, "ambient");
    let _h = ambient::scope("only-ambient", "a");

    let with_proxy_ctx = p.with_context(XID_CONTEXT_KEY, "proxy");
    assert_eq!(
        seen(&with_proxy_ctx, &CallOptions::new()),
        map(&[(XID_CONTEXT_KEY, "proxy"), ("only-ambient", "a")])
    );

    let opts = CallOptions::new().context(XID_CONTEXT_KEY, "call");
    assert_eq!(
        seen(&with_proxy_ctx, &opts),
        map(&[(XID_CONTEXT_KEY, "call"), ("only-ambient", "a")])
    );
    assert_eq!(
        seen(&p, &opts),
        map(&[(XID_CONTEXT_KEY, "call"), ("only-ambient", "a")])
    );
}

#[test]
fn guards_nest_and_restore() {
    let p = proxy();
    assert_eq!(ambient::get("k"), None);
    {
        let _outer = ambient::scope("k", "outer");
        assert_eq!(ambient::get("k").as_deref(), Some("outer"));
        {
            let _inner = ambient::scope("k", "inner");
            assert_eq!(seen(&p, &CallOptions::new()), map(&[("k", "inner")]));
            {
                let _hidden = ambient::without("k");
                assert_eq!(ambient::get("k"), None);
                assert!(seen(&p, &CallOptions::new()).is_empty());
            }
            assert_eq!(ambient::get("k").as_deref(), Some("inner"));
        }
        assert_eq!(seen(&p, &CallOptions::new()), map(&[("k", "outer")]));
    }
    assert_eq!(ambient::get("k"), None);
    assert!(ambient::is_empty());
    assert!(seen(&p, &CallOptions::new()).is_empty());
}

#[test]
fn scope_all_restores_every_key() {
    let _a = ambient::scope("a", "1");
    {
        let _g = ambient::scope_all([("a", "2"), ("b", "3")]);
        assert_eq!(ambient::snapshot(), map(&[("a", "2"), ("b", "3")]));
    }
    assert_eq!(ambient::snapshot(), map(&[("a", "1")]));
}

#[test]
fn async_calls_capture_the_context_when_made() {
    let p = proxy();
    let pending = {
        let _g = ambient::scope(XID_CONTEXT_KEY, "at-call-time");
        p.invoke_async("context", p.param_writer(), &CallOptions::new())
    };
    let _later = ambient::scope(XID_CONTEXT_KEY, "at-poll-time");
    let reply = block_on(pending).expect("async call");
    assert_eq!(reply.context(), &map(&[(XID_CONTEXT_KEY, "at-call-time")]));
}

#[test]
fn context_is_per_thread_and_moves_with_a_snapshot() {
    let p = proxy();
    let _g = ambient::scope(XID_CONTEXT_KEY, "xid-main");
    let other = p.clone();
    let plain = std::thread::spawn(move || seen(&other, &CallOptions::new()))
        .join()
        .expect("thread");
    assert!(plain.is_empty(), "another thread has its own context");

    let snap = ambient::snapshot();
    let other = p.clone();
    let carried = std::thread::spawn(move || {
        let _g = ambient::scope_all(snap);
        seen(&other, &CallOptions::new())
    })
    .join()
    .expect("thread");
    assert_eq!(carried, map(&[(XID_CONTEXT_KEY, "xid-main")]));
}
