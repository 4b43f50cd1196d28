//! Test fixtures: a coordinator hosted in process on 127.0.0.1, the Seata front end in front
//! of it, and a raw Seata client written with the `tars-seata` codec over a `TcpStream`.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tars::client::Communicator;
use tars::server::{Server, ServerConfig};
use tars_bootstrap::Hosted;
use tars_coordinator::service::{CoordinatorConfig, CoordinatorService, ADAPTER, COORDINATOR_OBJ};
use tars_protocols::tarstx::CoordinatorProxy;
use tars_seata::bytes::BytesMut;
use tars_seata::message::{
    GlobalBeginRequest, GlobalXidRequest, RegisterRmRequest, RegisterTmRequest,
};
use tars_seata::{Frame, FrameDecoder, Message, MessageType};
use tars_seata_front::{SeataBridge, SeataConfig, SeataFrontEnd};

/// How long a test waits for one answer.
pub const WAIT: Duration = Duration::from_secs(10);

/// How the front end reaches the coordinator.
enum Calls {
    Direct,
    OverTars,
}

/// A coordinator (in memory) and the front end calling it.
pub struct Env {
    pub front: SeataFrontEnd,
    pub server: Option<Server>,
    pub service: CoordinatorService,
}

impl Env {
    pub fn start() -> Env {
        Env::start_with(|_| {})
    }

    /// An environment whose front end configuration `adjust` may change (the port, the
    /// bridge and the coordinator are set here). The front end calls the coordinator's
    /// servant directly, as embedded tarsd does.
    pub fn start_with(adjust: impl FnOnce(&mut SeataConfig)) -> Env {
        Env::start_calling(Calls::Direct, adjust)
    }

    /// An environment whose front end calls the coordinator over Tars (a `CoordinatorProxy`
    /// to its port, as a cluster node calls its router).
    pub fn start_over_tars() -> Env {
        Env::start_calling(Calls::OverTars, |_| {})
    }

    fn start_calling(calls: Calls, adjust: impl FnOnce(&mut SeataConfig)) -> Env {
        let service = CoordinatorService::open(CoordinatorConfig {
            in_memory: true,
            port: 0,
            fragment: 5,
            retry_period_ms: 50,
            max_backoff_ms: 200,
            timeout_check_ms: 50,
            async_commit_ms: 50,
            phase_two_timeout_ms: 300,
            ..CoordinatorConfig::default()
        })
        .expect("open coordinator");
        // The coordinator's adapter hosts the phase-two bridge too, as in tarsd.
        let bridge = SeataBridge::new();
        let server = Server::start(
            ServerConfig::default(),
            vec![bridge.host_on(service.adapter())],
        )
        .expect("start coordinator");
        let addr = server.local_addr(ADAPTER).expect("bound");
        service.set_address(addr);
        let port = addr.port();
        let proxy = CoordinatorProxy::new(
            Communicator::new()
                .string_to_proxy(&format!(
                    "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {port} -t 5000"
                ))
                .expect("proxy"),
        );
        let mut config = SeataConfig {
            port: 0,
            bridge: Some(format!("127.0.0.1:{port}")),
            ..SeataConfig::default()
        };
        adjust(&mut config);
        let coordinator: std::sync::Arc<dyn tars_seata_front::Backend> = match calls {
            Calls::Direct => std::sync::Arc::new(service.servant()),
            Calls::OverTars => std::sync::Arc::new(proxy),
        };
        let front = SeataFrontEnd::start(config, coordinator).expect("start front end");
        bridge.bind(front.rm_registry().clone());
        Env {
            front,
            server: Some(server),
            service,
        }
    }
}

/// A front end alone, calling the coordinator at `127.0.0.1:coordinator_port` with a call
/// timeout of `timeout_ms` (for tests where the coordinator is absent or never answers).
pub fn front_only(coordinator_port: u16, timeout_ms: u64, max_outbound: usize) -> SeataFrontEnd {
    front_only_calling(coordinator_port, timeout_ms, |c| {
        c.max_outbound = max_outbound
    })
}

/// [`front_only`] with a call timeout of 1 s and the configuration `adjust` may change.
pub fn front_only_with(
    coordinator_port: u16,
    adjust: impl FnOnce(&mut SeataConfig),
) -> SeataFrontEnd {
    front_only_calling(coordinator_port, 1000, adjust)
}

fn front_only_calling(
    coordinator_port: u16,
    timeout_ms: u64,
    adjust: impl FnOnce(&mut SeataConfig),
) -> SeataFrontEnd {
    let proxy = CoordinatorProxy::new(
        Communicator::new()
            .string_to_proxy(&format!(
                "{COORDINATOR_OBJ}@tcp -h 127.0.0.1 -p {coordinator_port} -t {timeout_ms}"
            ))
            .expect("proxy"),
    );
    let mut config = SeataConfig {
        port: 0,
        ..SeataConfig::default()
    };
    adjust(&mut config);
    SeataFrontEnd::start(config, std::sync::Arc::new(proxy)).expect("start front end")
}

impl Env {
    pub fn client(&self) -> Client {
        Client::connect(self.front.local_addr())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.front.stop();
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        self.service.shutdown();
    }
}

/// What [`Client::next_frame`] saw.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    Timeout,
    Closed,
}

/// A raw Seata client.
pub struct Client {
    pub stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    next_id: i32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            decoder: FrameDecoder::new(),
            buf: BytesMut::new(),
            next_id: 100,
        }
    }

    pub fn next_id(&mut self) -> i32 {
        self.next_id += 1;
        self.next_id
    }

    /// The encoded request frame for `msg` with a fresh id.
    pub fn request_bytes(&mut self, msg: &Message) -> (i32, BytesMut) {
        let id = self.next_id();
        let mut wire = BytesMut::new();
        Frame::with_message(MessageType::Request, id, msg)
            .expect("frame")
            .encode(&mut wire)
            .expect("encode");
        (id, wire)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends `msg` as a request; returns its id.
    pub fn send(&mut self, msg: &Message) -> i32 {
        let (id, wire) = self.request_bytes(msg);
        self.write(&wire);
        id
    }

    /// The next frame (panics after [`WAIT`] or on EOF).
    pub fn recv_frame(&mut self) -> Frame {
        self.try_recv_frame().expect("a frame, not EOF")
    }

    /// The next frame, `None` on EOF or reset.
    pub fn try_recv_frame(&mut self) -> Option<Frame> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("frame") {
                return Some(frame);
            }
            assert!(Instant::now() < deadline, "no frame within {WAIT:?}");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    panic!("no frame within {WAIT:?}")
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next frame within `wait`.
    pub fn next_frame(&mut self, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("frame") {
                return Next::Frame(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Timeout;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk);
            self.stream.set_read_timeout(Some(WAIT)).expect("timeout");
            match read {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Next::Closed,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Answers request `request_id` of the server with `msg`.
    pub fn answer(&mut self, request_id: i32, msg: &Message) {
        let mut wire = BytesMut::new();
        Frame::with_message(MessageType::Response, request_id, msg)
            .expect("frame")
            .encode(&mut wire)
            .expect("encode");
        self.write(&wire);
    }

    /// The response message to request `id` (the next frame must be it).
    pub fn response(&mut self, id: i32) -> Message {
        let frame = self.recv_frame();
        assert_eq!(frame.message_type, MessageType::Response, "{frame:?}");
        assert_eq!(frame.request_id, id, "response id");
        frame.message().expect("decode").expect("a body")
    }

    /// Sends `msg` and waits for its response.
    pub fn call(&mut self, msg: Message) -> Message {
        let id = self.send(&msg);
        self.response(id)
    }

    /// Asserts the server closes the connection (EOF or reset within [`WAIT`]).
    pub fn expect_closed(&mut self) {
        let frame = self.try_recv_frame();
        assert!(
            frame.is_none(),
            "expected the connection closed, got {frame:?}"
        );
    }

    pub fn register_tm(&mut self, version: &str) -> Message {
        self.call(Message::RegisterTmRequest(RegisterTmRequest {
            version: version.into(),
            application_id: "test-app".into(),
            transaction_service_group: "default_tx_group".into(),
            extra_data: String::new(),
        }))
    }

    pub fn register_rm(&mut self, version: &str, resources: &str) -> Message {
        self.register_rm_as("test-app", version, resources)
    }

    pub fn register_rm_as(&mut self, app: &str, version: &str, resources: &str) -> Message {
        self.call(Message::RegisterRmRequest(RegisterRmRequest {
            version: version.into(),
            application_id: app.into(),
            transaction_service_group: "default_tx_group".into(),
            extra_data: String::new(),
            resource_ids: resources.into(),
        }))
    }

    /// Begins a transaction; returns its XID.
    pub fn begin(&mut self, name: &str) -> String {
        match self.call(Message::GlobalBeginRequest(GlobalBeginRequest {
            timeout: 60_000,
            transaction_name: name.into(),
        })) {
            Message::GlobalBeginResponse(r) => {
                assert_eq!(
                    r.result.result_code,
                    tars_seata::ResultCode::Success,
                    "{r:?}"
                );
                assert!(!r.xid.is_empty());
                r.xid
            }
            other => panic!("not a begin response: {other:?}"),
        }
    }
}

pub fn xid_request(xid: &str) -> GlobalXidRequest {
    GlobalXidRequest {
        xid: xid.into(),
        extra_data: String::new(),
    }
}
