//! `ssl` endpoints end to end, on 127.0.0.1: our client and server over TLS (sync, async, large
//! and pipelined calls), mutual TLS naming the caller, refused certificates (a wrong CA,
//! expired server and client certificates, no client certificate), and what a TLS port does
//! with plaintext, garbage, truncated records and stalled handshakes. Certificates are made
//! by rcgen in a temporary directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::client::{block_on, CallError, CallOptions, Communicator, ServantProxy};
use tars::endpoint::Endpoint;
use tars::packet::{PacketCodec, ParamWriter, RequestPacket, ResponsePacket};
use tars::server::{AdapterConfig, Server, ServerConfig};
use tars::tls::{ClientTls, ServerTls, TlsError, TlsSettings};
use tars_test_support::pki::{Ca, Role};
use tars_test_support::servants::string_param;
use tars_test_support::{one_servant, Echo};

const OBJ: &str = "Test.Tls.EchoObj";
const ADAPTER: &str = "Test.Tls.EchoObjAdapter";

/// Starts an `ssl` adapter (2 business threads) with the Echo servant; returns its port.
fn serve_tls(tls: ServerTls, config: ServerConfig) -> (Server, u16) {
    serve_tls_with(tls, config, |_| {})
}

fn serve_tls_with(
    tls: ServerTls,
    config: ServerConfig,
    adjust: impl FnOnce(&mut AdapterConfig),
) -> (Server, u16) {
    let mut endpoint: Endpoint = "ssl -h 127.0.0.1 -p 0 -t 60000".parse().unwrap();
    endpoint.timeout_ms = 60_000;
    let mut adapter = AdapterConfig::new(
        ADAPTER,
        endpoint,
        Arc::new(one_servant(OBJ, Arc::new(Echo::default()))),
    );
    adapter.threads = 2;
    adapter.tls = Some(Arc::new(tls));
    adjust(&mut adapter);
    let server = Server::start(config, vec![adapter]).expect("TLS server starts");
    let port = server.local_addr(ADAPTER).unwrap().port();
    (server, port)
}

fn proxy(communicator: &Communicator, port: u16) -> ServantProxy {
    communicator
        .string_to_proxy(&format!("{OBJ}@ssl -h 127.0.0.1 -p {port} -t 60000"))
        .expect("proxy")
}

fn opts() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(3))
}

fn echo(p: &ServantProxy, s: &str) -> Result<String, CallError> {
    let reply = p.invoke_sync("echo", string_param(s), &opts())?;
    Ok(reply.reader().read_return().expect("string"))
}

fn principal(p: &ServantProxy) -> Result<String, CallError> {
    let reply = p.invoke_sync("principal", ParamWriter::tars(), &opts())?;
    Ok(reply.reader().read_return().expect("string"))
}

/// A call that must be refused: fails, promptly (not at the call's timeout), and not as a
/// timeout.
fn assert_refused(p: &ServantProxy, what: &str) -> String {
    let started = Instant::now();
    let err = echo(p, "must not be served").expect_err(what);
    assert!(
        matches!(err, CallError::Transport(_)),
        "{what}: expected a transport error, got {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{what}: refused only after {:?}",
        started.elapsed()
    );
    err.to_string()
}

fn server_tls(ca: &Ca, client_ca: Option<&Ca>) -> ServerTls {
    let (cert, key) = ca.issue(
        "server",
        Role::Server,
        &["localhost", "127.0.0.1"],
        "server",
        false,
    );
    ServerTls::from_pem_files(&cert, &key, client_ca.map(|c| c.pem()).as_deref()).unwrap()
}

#[test]
fn sync_async_large_and_pipelined_calls_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let (server, port) = serve_tls(server_tls(&ca, None), ServerConfig::default());
    let client = Communicator::new().with_tls(ClientTls::from_pem_files(&ca.pem(), None).unwrap());
    let p = proxy(&client, port);
    assert_eq!(echo(&p, "over tls").unwrap(), "over tls");
    let reply = block_on(p.invoke_async("echo", string_param("async over tls"), &opts())).unwrap();
    assert_eq!(
        reply.reader().read_return::<String>().unwrap(),
        "async over tls"
    );
    // No client certificate asked for: anonymous.
    assert_eq!(principal(&p).unwrap(), "");
    // 1 MB each way: many records, partial writes on both sides.
    let big: String = (0..1_000_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    assert_eq!(echo(&p, &big).unwrap(), big);
    // 200 calls in flight at once on the one connection, answered in any order.
    let calls: Vec<_> = (0..200)
        .map(|i| p.invoke_async("echo", string_param(&format!("call {i}")), &opts()))
        .collect();
    let replies = block_on(futures::future::join_all(calls));
    for (i, reply) in replies.into_iter().enumerate() {
        let s: String = reply.unwrap().reader().read_return().unwrap();
        assert_eq!(s, format!("call {i}"));
    }
    // Synchronous callers on several threads share the connection (through the net thread:
    // a TLS socket is never written to directly).
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = &p;
            s.spawn(move || {
                for i in 0..50 {
                    let text = format!("thread {t} call {i}");
                    assert_eq!(echo(p, &text).unwrap(), text);
                }
            });
        }
    });
    // The server name can be given instead of the endpoint's host.
    let named = Communicator::new().with_tls(
        ClientTls::from_pem_files(&ca.pem(), None)
            .unwrap()
            .with_server_name("localhost")
            .unwrap(),
    );
    assert_eq!(echo(&proxy(&named, port), "by name").unwrap(), "by name");
    // ... and a name the certificate does not carry is refused.
    let wrong_name = Communicator::new().with_tls(
        ClientTls::from_pem_files(&ca.pem(), None)
            .unwrap()
            .with_server_name("elsewhere.example")
            .unwrap(),
    );
    assert_refused(&proxy(&wrong_name, port), "a certificate for another name");
    server.shutdown();
}

#[test]
fn mutual_tls_names_the_caller_and_refuses_clients_without_a_valid_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let clients = Ca::new(dir.path(), "clients");
    let (server, port) = serve_tls(server_tls(&ca, Some(&clients)), ServerConfig::default());
    let with_cert = |file: &str, sans: &[&str], cn: &str, expired: bool| {
        let (cert, key) = clients.issue(file, Role::Client, sans, cn, expired);
        Communicator::new()
            .with_tls(ClientTls::from_pem_files(&ca.pem(), Some((&cert, &key))).unwrap())
    };
    // The first DNS name of the certificate names the caller...
    let a = with_cert(
        "a",
        &["client-a.example", "other.example"],
        "ignored-cn",
        false,
    );
    let pa = proxy(&a, port);
    assert_eq!(principal(&pa).unwrap(), "client-a.example");
    assert_eq!(echo(&pa, "mutual").unwrap(), "mutual");
    // ... or, without one, its common name.
    let b = with_cert("b", &[], "batch-job", false);
    assert_eq!(principal(&proxy(&b, port)).unwrap(), "batch-job");
    // No certificate, one from a CA the server does not trust, an expired one: refused.
    let none = Communicator::new().with_tls(ClientTls::from_pem_files(&ca.pem(), None).unwrap());
    assert_refused(&proxy(&none, port), "no client certificate");
    let (cert, key) = ca.issue("stranger", Role::Client, &["stranger.example"], "x", false);
    let stranger = Communicator::new()
        .with_tls(ClientTls::from_pem_files(&ca.pem(), Some((&cert, &key))).unwrap());
    assert_refused(
        &proxy(&stranger, port),
        "a client CA the server does not trust",
    );
    let expired = with_cert("old", &["old.example"], "old", true);
    assert_refused(&proxy(&expired, port), "an expired client certificate");
    // The server still serves the good client.
    assert_eq!(echo(&pa, "still here").unwrap(), "still here");
    server.shutdown();
}

#[test]
fn a_wrong_ca_and_an_expired_server_certificate_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other");
    let (server, port) = serve_tls(server_tls(&ca, None), ServerConfig::default());
    let wrong =
        Communicator::new().with_tls(ClientTls::from_pem_files(&other.pem(), None).unwrap());
    let message = assert_refused(&proxy(&wrong, port), "a server certificate from another CA");
    assert!(message.contains("TLS"), "{message}");
    server.shutdown();

    let (cert, key) = ca.issue("expired", Role::Server, &["127.0.0.1"], "expired", true);
    let tls = ServerTls::from_pem_files(&cert, &key, None).unwrap();
    let (server, port) = serve_tls(tls, ServerConfig::default());
    let client = Communicator::new().with_tls(ClientTls::from_pem_files(&ca.pem(), None).unwrap());
    let message = assert_refused(&proxy(&client, port), "an expired server certificate");
    assert!(message.to_lowercase().contains("expired"), "{message}");
    server.shutdown();
}

/// Reads until the peer closes `stream` (end of stream or reset), for at most `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut b = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn tars_request_frame() -> Vec<u8> {
    let request = RequestPacket::new(1, OBJ, "echo", string_param("plaintext").into_body(), 3000);
    let mut wire = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(
        &mut PacketCodec::<ResponsePacket, RequestPacket>::new(),
        request,
        &mut wire,
    )
    .unwrap();
    wire.to_vec()
}

#[test]
fn plaintext_garbage_truncated_records_and_stalled_handshakes_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let config = ServerConfig {
        frame_timeout: Duration::from_millis(800),
        ..ServerConfig::default()
    };
    // The idle timeout (60 s) is far longer than the test: only the frame deadline or the
    // TLS error can close these connections.
    let (server, port) = serve_tls(server_tls(&ca, None), config);
    let client = Communicator::new().with_tls(ClientTls::from_pem_files(&ca.pem(), None).unwrap());
    let p = proxy(&client, port);
    assert_eq!(echo(&p, "before").unwrap(), "before");

    let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A plaintext Tars request: not a TLS record, closed at once.
    let mut plain = connect();
    plain.write_all(&tars_request_frame()).unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut plain, Duration::from_secs(2)),
        "plaintext"
    );
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "plaintext: {:?}",
        started.elapsed()
    );
    // Garbage: a handshake record longer than TLS allows, then noise.
    let mut garbage = connect();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    assert!(
        closed_within(&mut garbage, Duration::from_secs(2)),
        "garbage"
    );
    // A record that never completes: closed at the frame deadline (0.8 s + one sweep).
    let mut truncated = connect();
    truncated
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00])
        .unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut truncated, Duration::from_secs(4)),
        "truncated record"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "truncated: {:?}",
        started.elapsed()
    );
    // Connected and silent: the handshake has the frame deadline too.
    let mut silent = connect();
    assert!(
        closed_within(&mut silent, Duration::from_secs(4)),
        "silent client"
    );
    // A real ClientHello, then nothing: stalled mid-handshake.
    let mut stalled = connect();
    let config = ClientTls::from_pem_files(&ca.pem(), None).unwrap();
    let mut hello =
        rustls::ClientConnection::new(config.config().clone(), "localhost".try_into().unwrap())
            .unwrap();
    hello.write_tls(&mut stalled).unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(4)),
        "stalled handshake"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stalled: {:?}",
        started.elapsed()
    );

    // Nothing of them is held, and TLS clients are still served.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.io_stats().buffered_bytes != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.io_stats().buffered_bytes, 0);
    assert_eq!(echo(&p, "after").unwrap(), "after");
    let fresh = Communicator::new().with_tls(ClientTls::from_pem_files(&ca.pem(), None).unwrap());
    assert_eq!(echo(&proxy(&fresh, port), "fresh").unwrap(), "fresh");
    server.shutdown();
}

#[test]
fn ssl_needs_tls_settings_on_both_sides() {
    let mut adapter = AdapterConfig::new(
        ADAPTER,
        "ssl -h 127.0.0.1 -p 0".parse().unwrap(),
        Arc::new(one_servant(OBJ, Arc::new(Echo::default()))),
    );
    adapter.threads = 0;
    let err = match Server::start(ServerConfig::default(), vec![adapter]) {
        Ok(_) => panic!("an ssl adapter without TLS settings must not start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("ssl endpoint needs TLS settings"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let (server, port) = serve_tls(server_tls(&ca, None), ServerConfig::default());
    let started = Instant::now();
    let err = echo(&proxy(&Communicator::new(), port), "x").expect_err("no TLS settings");
    assert!(err.to_string().contains("no TLS settings"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    server.shutdown();
}

#[test]
fn settings_load_from_pem_files_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let (cert, key) = ca.issue("server", Role::Server, &["localhost"], "server", false);
    let json = format!(
        r#"{{"cert": {:?}, "key": {:?}, "client_ca": {:?}}}"#,
        cert,
        key,
        ca.pem()
    );
    let settings: TlsSettings = serde_json::from_str(&json).unwrap();
    assert_eq!(settings.client_ca.as_deref(), Some(ca.pem().as_path()));
    ServerTls::from_settings(&settings).unwrap();
    let settings: TlsSettings =
        serde_json::from_str(&format!(r#"{{"cert": {cert:?}, "key": {key:?}}}"#)).unwrap();
    assert!(settings.client_ca.is_none());

    let missing = dir.path().join("missing.key");
    let err = ServerTls::from_pem_files(&cert, &missing, None).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.key"), "{err}");
    // A certificate where the key should be.
    let err = ServerTls::from_pem_files(&cert, &cert, None).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Pem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("server.crt"), "{err}");
    // A key where the certificate should be.
    let err = ServerTls::from_pem_files(&key, &key, None).unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    // A key that is not the certificate's.
    let (_, other_key) = ca.issue("other", Role::Server, &["localhost"], "other", false);
    let err = ServerTls::from_pem_files(&cert, &other_key, None).unwrap_err();
    assert!(matches!(err, TlsError::Rustls { .. }), "{err}");
}

#[test]
fn openssl_s_client_completes_a_handshake() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        println!("skipped: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let (server, port) = serve_tls(server_tls(&ca, None), ServerConfig::default());
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-brief", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-CAfile",
        ])
        .arg(ca.pem())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("openssl s_client did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("CONNECTION ESTABLISHED"), "{text}");
    assert!(text.contains("Verification: OK"), "{text}");
    server.shutdown();
}
