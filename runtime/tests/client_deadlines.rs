//! Deadlines that hold on the client net threads: calls time out at their own deadline however
//! the peer misbehaves (accepts and never reads, never accepts, refuses), and one bad endpoint
//! never delays calls to another.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::{block_on, CallError, CallOptions, Communicator, Selection};
use tars::packet::ParamWriter;
use tars_test_support::servants::string_param;
use tars_test_support::{free_port, one_servant, serve, Echo};

const OBJ: &str = "Test.Deadline.EchoObj";

/// A listener that accepts connections and never reads from them; stops when dropped.
struct Blackhole {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Blackhole {
    fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Blackhole {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// 1,000 concurrent calls with a 200 ms timeout to a server that accepts and never reads all
/// end with `Timeout` within 300 ms of their start — their requests (4 KiB each, more than
/// the socket buffers hold) stay queued on the client — while calls to the proxy's other,
/// healthy endpoint are answered meanwhile.
#[test]
fn blackhole_calls_time_out_on_time_and_spare_the_healthy_endpoint() {
    let hole = Blackhole::start();
    let (server, port) = serve(one_servant(OBJ, Arc::new(Echo::default())), 2);
    // Mod-hash pins calls: hash 0 to the first endpoint (the blackhole), 1 to the second.
    let proxy = Communicator::new()
        .with_selection(Selection::ModHash)
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {} -t 60000:tcp -h 127.0.0.1 -p {port} -t 60000",
            hole.port
        ))
        .unwrap();
    // Connect the healthy endpoint first, so the measurement below is of calls only.
    let healthy = CallOptions::new().hash(1);
    proxy
        .invoke_sync("echo", string_param("warm"), &healthy)
        .unwrap();

    let payload = "x".repeat(4096);
    let doomed = CallOptions::new()
        .hash(0)
        .timeout(Duration::from_millis(200));
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let started = Instant::now();
            let f = proxy.invoke_async("echo", string_param(&payload), &doomed);
            (started, f)
        })
        .collect();
    // Meanwhile the healthy endpoint answers, well before the doomed calls' deadline.
    let t = Instant::now();
    let reply = proxy
        .invoke_sync("echo", string_param("alive"), &healthy)
        .unwrap();
    assert_eq!(reply.reader().read_return::<String>().unwrap(), "alive");
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "the healthy endpoint waited {:?} behind the blackhole",
        t.elapsed()
    );
    let mut latest = Duration::ZERO;
    for (started, f) in calls {
        let err = block_on(f).unwrap_err();
        let took = started.elapsed();
        assert_eq!(err, CallError::Timeout(200));
        latest = latest.max(took);
    }
    assert!(
        latest < Duration::from_millis(300),
        "a call to the blackhole ended {latest:?} after it started"
    );
    assert!(latest >= Duration::from_millis(200), "{latest:?}");
    server.shutdown();
}

/// A listener whose accept queue is full: further connects get no answer at all (their SYNs
/// are dropped), as with a non-routable address, but on 127.0.0.1.
struct Unanswered {
    port: u16,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl Unanswered {
    fn start() -> Unanswered {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        // Fill the backlog until a connect is no longer answered.
        for _ in 0..4096 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => queued.push(s),
                Err(_) => break,
            }
        }
        Unanswered {
            port: addr.port(),
            _listener: listener,
            _queued: queued,
        }
    }
}

/// Connecting is bounded by the call's own deadline, never by the endpoint's `-t` (60 s
/// here): to a peer that never answers the connect, each call fails at its timeout; to a
/// refused port, at once.
#[test]
fn connecting_is_bounded_by_the_call_deadline() {
    let silent = Unanswered::start();
    let proxy = Communicator::new()
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {} -t 60000",
            silent.port
        ))
        .unwrap();
    let opts = CallOptions::new().timeout(Duration::from_millis(300));
    for _ in 0..2 {
        let t = Instant::now();
        let err = proxy
            .invoke_sync("echo", string_param("x"), &opts)
            .unwrap_err();
        let took = t.elapsed();
        assert_eq!(err, CallError::Timeout(300));
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1000),
            "{took:?}"
        );
    }

    let refused = free_port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {refused} -t 60000"))
        .unwrap();
    let t = Instant::now();
    let err = proxy
        .invoke_sync("echo", string_param("x"), &CallOptions::new())
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Transport(m) if m.contains("cannot connect")),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

/// Requests sent before the connection is up leave when it comes up: a burst of async calls
/// on a fresh proxy all get their answers, in any order.
#[test]
fn calls_queued_while_connecting_are_sent_once_connected() {
    let (server, port) = serve(one_servant(OBJ, Arc::new(Echo::default())), 2);
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {port}"))
        .unwrap();
    let calls: Vec<_> = (0..500)
        .map(|i| proxy.invoke_async("echo", string_param(&i.to_string()), &CallOptions::new()))
        .collect();
    for (i, f) in calls.into_iter().enumerate() {
        let reply = block_on(f).unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    let one_way = proxy.invoke_oneway("echo", ParamWriter::tars(), &CallOptions::new());
    assert_eq!(one_way, Ok(()));
    server.shutdown();
}

/// UDP calls time out as usual: to a port where nothing listens (the ICMP errors are ignored)
/// each call fails at its own deadline.
#[test]
fn udp_calls_to_nobody_time_out_at_their_deadline() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@udp -h 127.0.0.1 -p {port} -t 60000"))
        .unwrap();
    let opts = CallOptions::new().timeout(Duration::from_millis(200));
    let calls: Vec<_> = (0..50)
        .map(|i| {
            (
                Instant::now(),
                proxy.invoke_async("echo", string_param(&i.to_string()), &opts),
            )
        })
        .collect();
    for (started, f) in calls {
        assert_eq!(block_on(f).unwrap_err(), CallError::Timeout(200));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(700),
            "{took:?}"
        );
    }
}

/// Synchronous calls write their request themselves when the connection is idle; against a
/// server that never reads, the socket buffer fills (partial writes are handed to the net
/// thread) and every call still ends with `Timeout` at its own deadline — or at once, once
/// the connection's send queue is full.
#[test]
fn sync_calls_to_a_blackhole_time_out_on_time() {
    let hole = Blackhole::start();
    let proxy = Communicator::new()
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {} -t 60000", hole.port))
        .unwrap();
    let opts = CallOptions::new().timeout(Duration::from_millis(200));
    // A first call connects; its small request leaves, and the connection is idle again.
    let err = proxy
        .invoke_sync("echo", string_param("first"), &opts)
        .unwrap_err();
    assert_eq!(err, CallError::Timeout(200));
    // Requests larger than the socket buffers: the first direct write is partial and hands
    // its rest to the net thread; the others queue behind it.
    let payload = "y".repeat(4 * 1024 * 1024);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (proxy, opts, payload) = (proxy.clone(), opts.clone(), payload.clone());
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let t = Instant::now();
                    let err = proxy
                        .invoke_sync("echo", string_param(&payload), &opts)
                        .unwrap_err();
                    let took = t.elapsed();
                    match err {
                        CallError::Timeout(200) => assert!(
                            took >= Duration::from_millis(200) && took < Duration::from_millis(400),
                            "{took:?}"
                        ),
                        // Past the 16 MiB send queue, a call fails at once.
                        CallError::Transport(m) if m.contains("queued for sending") => {
                            assert!(took < Duration::from_millis(100), "{took:?}")
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Callers faster than the peer cannot queue without bound: past the send-queue limit
/// (`NetConfig::max_send_buffer`, counted in the net thread's channel and on the connection),
/// further async calls fail at once, and the proxy's memory stays bounded.
#[test]
fn a_flood_of_async_calls_to_a_blackhole_is_refused_past_the_send_limit() {
    let hole = Blackhole::start();
    let limit = 1024 * 1024;
    let proxy = Communicator::new()
        .with_net_config(tars::client::NetConfig {
            max_send_buffer: limit,
            ..tars::client::NetConfig::default()
        })
        .string_to_proxy(&format!("{OBJ}@tcp -h 127.0.0.1 -p {} -t 60000", hole.port))
        .unwrap();
    let payload = "z".repeat(16 * 1024);
    let opts = CallOptions::new().timeout(Duration::from_millis(300));
    // 64 MiB offered, at most a few MiB accepted.
    let calls: Vec<_> = (0..4096)
        .map(|_| proxy.invoke_async("echo", string_param(&payload), &opts))
        .collect();
    let (mut refused, mut timed_out) = (0, 0);
    for f in calls {
        match block_on(f).unwrap_err() {
            CallError::Timeout(300) => timed_out += 1,
            CallError::Transport(m) if m.contains("already") => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(refused > 3000, "refused {refused}, timed out {timed_out}");
    assert!(timed_out > 0, "refused {refused}, timed out {timed_out}");
}

/// A peer that floods its connection with responses nobody asked for (valid frames with
/// unknown request ids, without pause) cannot hold up the net thread: its own call still ends
/// at its deadline, and a call to the proxy's other endpoint is answered meanwhile. (The net
/// thread reads a bounded amount per socket and pass, and keeps a bounded number of unmatched
/// responses.)
#[test]
fn a_flooding_peer_cannot_stall_the_net_thread() {
    use std::io::Write;
    use tars::bytes::BytesMut;
    use tars::packet::{PacketCodec, RequestPacket, ResponsePacket};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let flood_port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let flooder = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut chunk = BytesMut::new();
        let mut codec = PacketCodec::<RequestPacket, ResponsePacket>::new();
        for i in 0..64 {
            let response = ResponsePacket {
                request_id: -1 - i,
                buffer: tars::bytes::Bytes::from(vec![7u8; 8 * 1024]),
                ..ResponsePacket::default()
            };
            codec.encode_packet(&response, &mut chunk).unwrap();
        }
        while !flag.load(Ordering::Relaxed) {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let (server, port) = serve(one_servant(OBJ, Arc::new(Echo::default())), 1);
    let proxy = Communicator::new()
        .with_selection(Selection::ModHash)
        .string_to_proxy(&format!(
            "{OBJ}@tcp -h 127.0.0.1 -p {flood_port} -t 60000:tcp -h 127.0.0.1 -p {port} -t 60000"
        ))
        .unwrap();
    let flooded = CallOptions::new()
        .hash(0)
        .timeout(Duration::from_millis(300));
    let t = Instant::now();
    let err = proxy
        .invoke_sync("echo", string_param("x"), &flooded)
        .unwrap_err();
    assert_eq!(err, CallError::Timeout(300));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The flood goes on; the other endpoint is still served by the same net thread.
    for i in 0..20 {
        let reply = proxy
            .invoke_sync(
                "echo",
                string_param(&i.to_string()),
                &CallOptions::new().hash(1),
            )
            .unwrap();
        assert_eq!(
            reply.reader().read_return::<String>().unwrap(),
            i.to_string()
        );
    }
    stop.store(true, Ordering::Relaxed);
    drop(proxy);
    let _ = flooder.join();
    server.shutdown();
}
