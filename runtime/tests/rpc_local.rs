//! The call layer end to end through the wire encoding, with a hand-written servant (the test
//! support's `Echo`) called through a plain `ServantProxy` over a `LocalInvoker`: dispatch by
//! name, out params, TUP, errors, deferred replies, one-way calls, context and timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::bytes::Bytes;
use tars::client::{CallError, CallOptions, LocalInvoker, ServantProxy};
use tars::codec::TarsStruct;
use tars::packet::{version, ParamWriter, RequestPacket, RetCode, TupRequest, TupResponse};
use tars::server::{Response, ServantError, Servants};
use tars_test_support::servants::{int_param, string_param};
use tars_test_support::Echo;

const OBJ: &str = "Test.HelloServer.HelloObj";

fn setup() -> (Arc<Echo>, Arc<Servants>, ServantProxy) {
    let hello = Arc::new(Echo::default());
    let mut servants = Servants::new();
    servants.add(OBJ, hello.clone());
    let servants = Arc::new(servants);
    let proxy = ServantProxy::new(OBJ, Arc::new(LocalInvoker::new(servants.clone())));
    (hello, servants, proxy)
}

#[test]
fn sync_call_returns_value_out_params_and_context() {
    let (_, _, proxy) = setup();
    let proxy = proxy.with_context("prefix", ">");
    let reply = proxy
        .invoke_sync("echo_out", string_param("hi"), &CallOptions::new())
        .unwrap();
    let mut r = reply.reader();
    assert_eq!(r.read_return::<i32>().unwrap(), 2);
    assert_eq!(r.read::<String>(2, "r").unwrap(), ">hi");
    assert_eq!(reply.context().get("seen").map(|s| s.as_str()), Some("2"));
}

#[test]
fn async_call_is_a_plain_future() {
    let (_, _, proxy) = setup();
    let fut = proxy.invoke_async(
        "echo_out",
        string_param("abc"),
        &CallOptions::new().context("prefix", "#"),
    );
    let reply = futures::executor::block_on(fut).unwrap();
    assert_eq!(reply.reader().read::<String>(2, "r").unwrap(), "#abc");
}

#[test]
fn framework_errors_have_their_codes() {
    let (_, servants, proxy) = setup();
    let err = proxy
        .invoke_sync("nope", ParamWriter::tars(), &CallOptions::new())
        .unwrap_err();
    assert_eq!(err.code(), RetCode::NoFunc.code());
    let err = proxy
        .invoke_sync("fail", ParamWriter::tars(), &CallOptions::new())
        .unwrap_err();
    assert_eq!(
        err,
        CallError::Server {
            code: -42,
            desc: "business failure".into()
        }
    );
    // Missing parameter -> decode error naming it.
    let err = proxy
        .invoke_sync("echo_out", ParamWriter::tars(), &CallOptions::new())
        .unwrap_err();
    match err {
        CallError::Server { code: -1, desc } => assert!(desc.contains("field s (tag 1)"), "{desc}"),
        other => panic!("unexpected {other:?}"),
    }
    // Unknown servant.
    let other = ServantProxy::new("No.Such.Obj", Arc::new(LocalInvoker::new(servants)));
    assert_eq!(
        other
            .invoke_sync("echo_out", string_param("x"), &CallOptions::new())
            .unwrap_err()
            .code(),
        -4
    );
    assert_eq!(
        ServantError::new(-1000, "x").code(),
        -99,
        "codes below -99 are clamped"
    );
}

#[test]
fn tars_ping_always_answers() {
    let (_, _, proxy) = setup();
    assert!(proxy
        .invoke_sync("tars_ping", ParamWriter::tars(), &CallOptions::new())
        .is_ok());
}

#[test]
fn deferred_replies_arrive_from_another_thread() {
    let (_, _, proxy) = setup();
    let reply = proxy
        .invoke_sync("later", int_param("x", 21), &CallOptions::new())
        .unwrap();
    assert_eq!(reply.reader().read_return::<i32>().unwrap(), 42);
}

#[test]
fn unanswered_calls_time_out() {
    let (hello, _, proxy) = setup();
    let start = Instant::now();
    let err = proxy
        .invoke_sync(
            "park",
            ParamWriter::tars(),
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert_eq!(err, CallError::Timeout(100));
    assert!(start.elapsed() >= Duration::from_millis(100));
    let mut parked = hello.parked();
    assert_eq!(parked.len(), 1);
    // A late reply after the timeout is dropped without harm.
    let r = parked.pop().unwrap();
    r.send_ok(ParamWriter::tars());
}

#[test]
fn oneway_calls_run_without_reply() {
    let (hello, servants, proxy) = setup();
    proxy
        .invoke_oneway("notify", ParamWriter::tars(), &CallOptions::new())
        .unwrap();
    assert_eq!(hello.notified(), 1);
    let mut req = RequestPacket::new(9, OBJ, "notify", Bytes::new(), 0);
    req.packet_type = tars::packet::packet_type::ONEWAY;
    assert!(
        servants.handle(req, None).is_none(),
        "no response to one-way requests"
    );
}

#[test]
fn tup_requests_are_answered_by_name_in_the_request_layout() {
    let (_, servants, _) = setup();
    let mut req = TupRequest::new(5, OBJ, "echo_out");
    req.attrs.put("s", &"tup".to_string());
    let packet = RequestPacket::decode_from(&req.to_packet().encode_to_bytes()).unwrap();
    let response = servants.handle(packet, None).unwrap();
    let Response::Tup(tup) = &response else {
        panic!("TUP request must get a TUP response")
    };
    let wire = RequestPacket::decode_from(&response.encode_body()).unwrap();
    assert_eq!(wire.version, version::TUP);
    let parsed = TupResponse::from_packet(&wire).unwrap();
    assert_eq!(parsed.ret, 0);
    assert_eq!(parsed.attrs.get::<i32>("").unwrap(), 3);
    assert_eq!(parsed.attrs.get::<i32>("tars_ret").unwrap(), 3);
    assert_eq!(parsed.attrs.get::<String>("r").unwrap(), "tup");
    assert_eq!(tup.request_id, 5);
    // Errors travel in STATUS_RESULT_CODE.
    let bad = TupRequest::new(6, OBJ, "nope").to_packet();
    let Some(Response::Tup(t)) = servants.handle(bad, None) else {
        panic!()
    };
    assert_eq!(t.ret, -3);
}

#[test]
fn unsupported_versions_are_decode_errors() {
    let (_, servants, _) = setup();
    let mut req = RequestPacket::new(1, OBJ, "echo_out", Bytes::new(), 0);
    req.version = version::JSON;
    assert_eq!(
        servants.handle(req, None).unwrap().ret(),
        RetCode::DecodeErr.code()
    );
}

/// A target of the client's own `LocalTarget` trait, without `Servants`: it answers each
/// request on a thread of its own with the request id plus 1000, or drops the reply of
/// function `drop`.
#[derive(Debug)]
struct Threaded;

impl tars::client::LocalTarget for Threaded {
    fn deliver(&self, request: RequestPacket, reply: Option<tars::client::LocalReply>) {
        let Some(reply) = reply else { return };
        std::thread::spawn(move || {
            if request.func_name == "drop" {
                return;
            }
            let mut out = ParamWriter::tars();
            out.write_return(&(request.request_id + 1000));
            let response = tars::packet::ResponsePacket {
                version: request.version,
                packet_type: request.packet_type,
                request_id: request.request_id,
                message_type: 0,
                ret: 0,
                buffer: out.into_body(),
                status: Default::default(),
                result_desc: Default::default(),
                context: Default::default(),
            };
            reply(tars::client::LocalResponse::Encoded(
                response.encode_to_bytes(),
            ));
        });
    }
}

#[test]
fn any_local_target_serves_a_local_invoker() {
    let invoker = LocalInvoker::from_target(Arc::new(Threaded));
    let proxy = ServantProxy::new("Any.Obj", Arc::new(invoker));
    let reply = proxy
        .invoke_sync("f", ParamWriter::tars(), &CallOptions::new())
        .expect("answered from another thread");
    let got: i32 = reply.reader().read_return().expect("return value");
    assert!(got > 1000, "request id + 1000, got {got}");

    // A reply dropped unanswered: the call ends with its timeout.
    let err = proxy
        .invoke_sync(
            "drop",
            ParamWriter::tars(),
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .expect_err("dropped");
    assert!(matches!(err, CallError::Timeout(100)), "{err:?}");
}

#[test]
fn a_communicator_calls_objects_served_locally_in_process() {
    let (hello, servants, _) = setup();
    let communicator = tars::client::Communicator::new();
    // Nothing listens on port 1: only the in-process path can answer.
    communicator.serve_locally(OBJ, "127.0.0.1", 1, servants.clone());
    let local = communicator
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p 1 -t 500"))
        .unwrap();
    let reply = local
        .invoke_sync("echo", string_param("in process"), &CallOptions::new())
        .unwrap();
    assert_eq!(
        reply.reader().read_return::<String>().unwrap(),
        "in process"
    );
    assert_eq!(hello.calls(), 1);
    // A clone made earlier or later sees it too; another object, port or a proxy with more
    // than one endpoint goes over the network (and finds nothing on port 1).
    let clone = communicator.clone();
    for other in [
        "Other.Obj@tcp -h 127.0.0.1 -p 1 -t 500".to_string(),
        format!("{OBJ}@tcp -h 127.0.0.1 -p 2 -t 500"),
        format!("{OBJ}@tcp -h 127.0.0.1 -p 1 -t 500:tcp -h 127.0.0.1 -p 2 -t 500"),
    ] {
        let proxy = clone.string_to_proxy(&other).unwrap();
        let call = proxy.invoke_sync(
            "echo",
            string_param("x"),
            &CallOptions::new().timeout(Duration::from_millis(500)),
        );
        assert!(call.is_err(), "{other} answered: {call:?}");
    }
    assert_eq!(hello.calls(), 1);
    // The communicator does not keep the servants alive: once dropped, calls time out.
    drop(servants);
    let gone = local.invoke_sync(
        "echo",
        string_param("x"),
        &CallOptions::new().timeout(Duration::from_millis(100)),
    );
    assert!(matches!(gone, Err(CallError::Timeout(_))), "{gone:?}");
}
