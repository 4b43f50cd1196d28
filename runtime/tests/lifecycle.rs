//! Running a server until it is told to stop: `Server::wait` returns after a `StopHandle` asks
//! it to stop, having answered the call in flight and closed the listener; SIGTERM / SIGINT
//! are caught by one `ShutdownSignals` at a time. (`Server::run_until_signal` with real
//! signals and a registry: `test-support/tests/server_lifecycle.rs`, through a child process.)

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::server::{Servants, ShutdownSignal, ShutdownSignals};
use tars_test_support::servants::{sleep, sleeping};
use tars_test_support::{poll_until, proxy, send_signal, serve, Echo, Signal};

const OBJ: &str = "Test.Lifecycle.EchoObj";

#[test]
fn wait_returns_after_a_stop_request_with_the_call_in_flight_answered() {
    let mut servants = Servants::new();
    servants.add(OBJ, Arc::new(Echo::default()));
    // Two business threads: the poll is served while the slow call runs.
    let (server, port) = serve(servants, 2);
    let stop = server.stop_handle();
    let waiting = std::thread::spawn(move || {
        server.wait();
        Instant::now()
    });

    let slow = std::thread::spawn(move || {
        let answer = sleep(&proxy(OBJ, port), 400);
        (answer, Instant::now())
    });
    let poll = proxy(OBJ, port);
    poll_until("the slow call to run", Duration::from_secs(10), || {
        (sleeping(&poll).ok()? == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !waiting.is_finished(),
        "wait blocks until a stop is requested"
    );

    stop.stop();
    stop.stop(); // twice is harmless
    let (answer, answered_at) = slow.join().expect("caller");
    assert_eq!(answer.expect("the call in flight is answered"), 400);
    let stopped_at = waiting.join().expect("wait");
    assert!(
        stopped_at >= answered_at - Duration::from_millis(50),
        "wait returned only after the drain"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer accepting once wait returned"
    );
    stop.stop(); // after the server is gone: harmless
}

/// Signals are sent to this test process itself, only while a `ShutdownSignals` is installed
/// (otherwise SIGTERM would end the test run), and once (a second one would end it too).
#[test]
fn shutdown_signals_call_back_once_and_one_is_installed_at_a_time() {
    let (tx, rx) = std::sync::mpsc::channel();
    let signals = ShutdownSignals::install(move |signal| {
        let _ = tx.send(signal);
    })
    .expect("install");
    let second = ShutdownSignals::install(|_| {}).expect_err("a second install is refused");
    assert_eq!(second.kind(), std::io::ErrorKind::AlreadyExists);

    // Not at once: the watcher has been polling a while when the signal comes.
    std::thread::sleep(Duration::from_millis(150));
    assert!(rx.try_recv().is_err(), "no callback without a signal");
    send_signal(std::process::id(), Signal::SIGTERM);
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the callback runs on SIGTERM");
    assert_eq!(got, ShutdownSignal::Terminate);
    assert_eq!(got.to_string(), "SIGTERM");
    drop(signals);

    let again = ShutdownSignals::install(|_| {}).expect("installed again once the first is gone");
    drop(again);
}
