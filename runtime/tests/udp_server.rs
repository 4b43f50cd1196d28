//! UDP adapters (`udp -h 127.0.0.1 -p 0`), driven by a raw std `UdpSocket` client so every
//! assertion is about datagrams on the wire: one request frame per datagram in, one reply
//! frame per datagram out.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tars::codec::{Reader, TarsStruct};
use tars::packet::{
    packet_type, ParamReader, ParamWriter, RequestPacket, ResponsePacket, TupRequest, TupResponse,
};
use tars::server::{
    AdapterConfig, Current, Dispatch, DispatchError, Endpoint, Servants, Server, ServerConfig,
};
use tars_test_support::servants::{int_param, string_param};
use tars_test_support::{proxy, wait_until, Echo};

const OBJ: &str = "Test.Udp.EchoObj";
const BIG_OBJ: &str = "Test.Udp.BigObj";
const ADAPTER: &str = "Test.Udp.Adapter";

/// How long a reply (or a call's start) may take on an idle server.
const WAIT: Duration = Duration::from_secs(5);

/// `string big(int n)`: `n` bytes of `b` (a reply far larger than its request).
struct Big;

impl Dispatch for Big {
    fn functions(&self) -> &'static [&'static str] {
        &["big"]
    }

    fn dispatch(
        &self,
        current: &mut Current,
        params: &mut ParamReader<'_>,
        out: &mut ParamWriter,
    ) -> Result<(), DispatchError> {
        match current.func_name() {
            "big" => {
                let n: i32 = params.read(1, "n")?;
                out.write_return(&"b".repeat(usize::try_from(n).unwrap_or(0)));
                Ok(())
            }
            other => Err(DispatchError::NoFunc(other.into())),
        }
    }
}

fn udp_endpoint() -> Endpoint {
    "udp -h 127.0.0.1 -p 0 -t 60000"
        .parse()
        .expect("udp endpoint")
}

/// An [`Echo`] under [`OBJ`] and a [`Big`] under [`BIG_OBJ`] on one UDP adapter that `adjust`
/// changes first.
fn udp_server(
    echo: Arc<Echo>,
    config: ServerConfig,
    adjust: impl FnOnce(&mut AdapterConfig),
) -> (Server, SocketAddr) {
    let mut servants = Servants::new();
    servants.add(OBJ, echo);
    servants.add(BIG_OBJ, Arc::new(Big));
    let mut adapter = AdapterConfig::new(ADAPTER, udp_endpoint(), Arc::new(servants));
    adjust(&mut adapter);
    let server = Server::start(config, vec![adapter]).expect("udp server starts");
    let addr = server.local_addr(ADAPTER).expect("bound");
    (server, addr)
}

/// A raw UDP client connected to the server's socket.
struct Client(UdpSocket);

impl Client {
    fn new(server: SocketAddr) -> Client {
        let s = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        s.connect(server).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        Client(s)
    }

    fn send_raw(&self, datagram: &[u8]) {
        assert_eq!(self.0.send(datagram).expect("send"), datagram.len());
    }

    fn send(&self, req: &RequestPacket) {
        self.send_raw(&frame(req));
    }

    /// The next datagram: exactly one frame, whose packet body is returned.
    fn recv_frame(&self, wait: Duration) -> Option<tars::bytes::Bytes> {
        self.0.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = vec![0u8; 70_000];
        match self.0.recv(&mut buf) {
            Ok(n) => {
                assert!(n >= 4, "datagram of {n} bytes");
                let prefix = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                assert_eq!(prefix, n, "a reply datagram holds exactly one frame");
                Some(tars::bytes::Bytes::copy_from_slice(&buf[4..n]))
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                None
            }
            Err(e) => panic!("recv failed: {e}"),
        }
    }

    fn recv(&self) -> ResponsePacket {
        let body = self.recv_frame(WAIT).expect("a reply within 5 s");
        ResponsePacket::read_fields(&mut Reader::from_bytes(&body, Default::default()))
            .expect("a Tars response")
    }

    /// Nothing arrives within `wait`.
    fn silent_for(&self, wait: Duration) -> bool {
        self.recv_frame(wait).is_none()
    }
}

fn frame(req: &RequestPacket) -> Vec<u8> {
    let body = req.encode_to_bytes();
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn call(id: i32, func: &str, body: ParamWriter) -> RequestPacket {
    RequestPacket::new(id, OBJ, func, body.into_body(), 3000)
}

fn returned<T: tars::codec::TarsValue>(p: &ResponsePacket) -> T {
    ParamReader::tars(&p.buffer, Default::default())
        .read_return()
        .expect("return value")
}

#[test]
fn udp_endpoints_parse() {
    let ep: Endpoint = "udp -h 127.0.0.1 -p 18600 -t 3000".parse().unwrap();
    assert_eq!((ep.protocol.as_str(), ep.port), ("udp", 18600));
    assert_eq!(ep.to_string(), "udp -h 127.0.0.1 -p 18600 -t 3000");
    assert_eq!("UDP -h a -p 1".parse::<Endpoint>().unwrap().protocol, "udp");
}

#[test]
fn each_request_datagram_gets_one_reply_datagram() {
    let (server, addr) = udp_server(Arc::default(), ServerConfig::default(), |_| {});
    let c = Client::new(addr);
    for i in 1..=20 {
        c.send(&call(i, "echo", string_param(&format!("m{i}"))));
    }
    let mut seen = BTreeMap::new();
    for _ in 1..=20 {
        let r = c.recv();
        assert_eq!(r.ret, 0);
        seen.insert(r.request_id, returned::<String>(&r));
    }
    let expected: BTreeMap<i32, String> = (1..=20).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(seen, expected);
    // Framework answers travel the same way.
    c.send(&call(30, "nope", ParamWriter::tars()));
    assert_eq!(c.recv().ret, -3);
    let mut other = call(31, "echo", string_param("x"));
    other.servant_name = "No.Such.Obj".into();
    c.send(&other);
    let r = c.recv();
    assert_eq!((r.request_id, r.ret), (31, -4));
    c.send(&call(32, "tars_ping", ParamWriter::tars()));
    assert_eq!(c.recv().ret, 0);
    // A second client gets its own replies.
    let c2 = Client::new(addr);
    c2.send(&call(1, "echo", string_param("second")));
    assert_eq!(returned::<String>(&c2.recv()), "second");
    assert!(c.silent_for(Duration::from_millis(100)));
    server.shutdown();
}

#[test]
fn oneway_gets_no_reply_and_tup_is_answered_in_request_layout() {
    let echo = Arc::new(Echo::default());
    let (server, addr) = udp_server(echo.clone(), ServerConfig::default(), |_| {});
    let c = Client::new(addr);
    for i in 1..=3 {
        let mut ow = call(i, "notify", ParamWriter::tars());
        ow.packet_type = packet_type::ONEWAY;
        c.send(&ow);
    }
    wait_until("three one-way calls served", WAIT, || echo.notified() == 3);
    c.send(&call(4, "count", ParamWriter::tars()));
    // The first reply is the count's: nothing was sent for the one-way calls.
    let r = c.recv();
    assert_eq!((r.request_id, returned::<i32>(&r)), (4, 3));

    let mut tup = TupRequest::new(5, OBJ, "echo");
    tup.attrs.put("s", &"tup!".to_string());
    c.send(&tup.to_packet());
    let body = c.recv_frame(WAIT).expect("a TUP reply");
    let p = RequestPacket::read_fields(&mut Reader::from_bytes(&body, Default::default()))
        .expect("RequestPacket layout");
    let t = TupResponse::from_packet(&p).expect("TUP reply");
    assert_eq!((t.request_id, t.ret), (5, 0));
    assert_eq!(t.attrs.get::<String>("").unwrap(), "tup!");
    server.shutdown();
}

#[test]
fn malformed_truncated_and_oversized_datagrams_are_dropped() {
    let config = ServerConfig {
        max_packet: 2048,
        ..Default::default()
    };
    let (server, addr) = udp_server(Arc::default(), config, |_| {});
    let c = Client::new(addr);
    let good = frame(&call(1, "echo", string_param("hello")));
    c.send_raw(&[0, 0, 0]); // shorter than a length prefix
    c.send_raw(&[0, 0, 0, 4]); // a length below the minimum frame
    c.send_raw(&good[..good.len() - 3]); // truncated: the prefix promises more
    let mut longer = good.clone();
    longer.extend_from_slice(&[0, 0, 0, 9, 1]); // a second frame in the same datagram
    c.send_raw(&longer);
    let mut huge = vec![0xff, 0xff, 0xff, 0xff];
    huge.extend_from_slice(&good[4..]); // an absurd length prefix
    c.send_raw(&huge);
    // A consistent frame above max_packet.
    let too_big = frame(&call(2, "echo", string_param(&"x".repeat(3000))));
    c.send_raw(&too_big);
    c.send_raw(&[0, 0, 0, 9, 0x10, 0x01, 0x2f, 0xff, 0xff]); // garbage inside a frame
    wait_until("seven bad datagrams counted", WAIT, || {
        server.io_stats().udp_bad_datagrams == 7
    });
    assert!(
        c.silent_for(Duration::from_millis(200)),
        "no reply to bad datagrams"
    );
    assert_eq!(server.io_stats().udp_bad_datagrams, 7);
    // The server keeps serving, this client included.
    c.send_raw(&good);
    let r = c.recv();
    assert_eq!(
        (r.request_id, returned::<String>(&r)),
        (1, "hello".to_owned())
    );
    server.shutdown();
}

#[test]
fn replies_too_large_for_a_datagram_answer_an_error() {
    let (server, addr) = udp_server(Arc::default(), ServerConfig::default(), |_| {});
    let c = Client::new(addr);
    let big = |id, n| RequestPacket::new(id, BIG_OBJ, "big", int_param("n", n).into_body(), 3000);
    c.send(&big(1, 60_000));
    let r = c.recv();
    assert_eq!((r.request_id, r.ret), (1, 0));
    assert_eq!(returned::<String>(&r).len(), 60_000);
    c.send(&big(2, 70_000));
    let r = c.recv();
    assert_eq!((r.request_id, r.ret), (2, -2));
    assert!(
        r.result_desc.contains("65507"),
        "the error says why: {:?}",
        r.result_desc
    );
    assert_eq!(server.io_stats().udp_oversized_replies, 1);
    c.send(&big(3, 10));
    assert_eq!(returned::<String>(&c.recv()), "b".repeat(10));
    server.shutdown();
}

#[test]
fn overload_and_queue_timeout_apply_as_on_tcp() {
    let echo = Arc::new(Echo::default());
    let (server, addr) = udp_server(echo.clone(), ServerConfig::default(), |a| {
        a.queue_capacity = 5; // admits below 4 queued requests
        a.queue_timeout = Duration::from_millis(150);
    });
    let c = Client::new(addr);
    c.send(&call(1, "sleep", int_param("ms", 400)));
    wait_until("the 400 ms call is running", WAIT, || echo.sleeping() == 1);
    for i in 2..=11 {
        c.send(&call(i, "echo", string_param("queued")));
    }
    let mut codes = BTreeMap::new();
    for _ in 1..=11 {
        let r = c.recv();
        codes.insert(r.request_id, r.ret);
    }
    assert_eq!(codes.len(), 11, "one reply per request: {codes:?}");
    assert_eq!(codes[&1], 0);
    assert_eq!(
        codes.values().filter(|&&c| c == -9).count(),
        6,
        "4 queued, the rest refused: {codes:?}"
    );
    assert_eq!(
        codes.values().filter(|&&c| c == -6).count(),
        4,
        "queued behind a 400 ms call with a 150 ms queue timeout: {codes:?}"
    );
    server.shutdown();
}

#[test]
fn deferred_replies_and_inline_adapters() {
    for threads in [0, 2] {
        let (server, addr) = udp_server(Arc::default(), ServerConfig::default(), |a| {
            a.threads = threads
        });
        let c = Client::new(addr);
        c.send(&call(1, "later", int_param("x", 21)));
        c.send(&call(2, "echo", string_param("now")));
        let mut replies = BTreeMap::new();
        for _ in 0..2 {
            let r = c.recv();
            replies.insert(r.request_id, r);
        }
        assert_eq!(returned::<i32>(&replies[&1]), 42, "threads = {threads}");
        assert_eq!(
            returned::<String>(&replies[&2]),
            "now",
            "threads = {threads}"
        );
        server.shutdown();
    }
}

#[test]
fn udp_and_tcp_adapters_side_by_side_on_several_net_threads() {
    let servants = || {
        let mut s = Servants::new();
        s.add(OBJ, Arc::new(Echo::default()));
        Arc::new(s)
    };
    let adapters = vec![
        AdapterConfig::new("tcp", Endpoint::tcp("127.0.0.1", 0), servants()),
        AdapterConfig::new("udp-a", udp_endpoint(), servants()),
        AdapterConfig::new("udp-b", udp_endpoint(), servants()),
    ];
    let config = ServerConfig {
        net_threads: 2,
        ..Default::default()
    };
    let server = Server::start(config, adapters).expect("server starts");
    for name in ["udp-a", "udp-b"] {
        let c = Client::new(server.local_addr(name).expect("bound"));
        c.send(&call(7, "echo", string_param(name)));
        assert_eq!(returned::<String>(&c.recv()), name);
    }
    let tcp = server.local_addr("tcp").expect("bound").port();
    let p = proxy(OBJ, tcp);
    assert_eq!(
        tars_test_support::servants::echo(&p, "over tcp").unwrap(),
        "over tcp"
    );
    server.shutdown();
}

#[test]
fn shutdown_answers_requests_in_flight() {
    let echo = Arc::new(Echo::default());
    let (server, addr) = udp_server(echo.clone(), ServerConfig::default(), |_| {});
    let c = Client::new(addr);
    c.send(&call(1, "sleep", int_param("ms", 200)));
    wait_until("the call is running", WAIT, || echo.sleeping() == 1);
    server.shutdown();
    let r = c.recv();
    assert_eq!((r.request_id, r.ret, returned::<i32>(&r)), (1, 0, 200));
}
