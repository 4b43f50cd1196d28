//! The front end when the coordinator cannot be reached or never answers, and when a client
//! does not read.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{front_only, Client};
use tars_seata::bytes::BytesMut;
use tars_seata::message::GlobalBeginRequest;
use tars_seata::{Frame, Message, ResultCode, TransactionExceptionCode};

fn begin() -> Message {
    Message::GlobalBeginRequest(GlobalBeginRequest {
        timeout: 1000,
        transaction_name: "t".into(),
    })
}

fn failed_with_io(msg: Message) {
    let Message::GlobalBeginResponse(r) = msg else {
        panic!("not a begin response: {msg:?}")
    };
    assert_eq!(r.result.result_code, ResultCode::Failed, "{r:?}");
    assert_eq!(
        r.result.exception_code,
        TransactionExceptionCode::Io,
        "{r:?}"
    );
    assert!(r.result.msg.contains("begin"), "{r:?}");
    assert!(r.xid.is_empty());
}

#[test]
fn an_unreachable_coordinator_is_a_failed_io_answer() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let front = front_only(port, 2000, 16 << 20);
    let mut c = Client::connect(front.local_addr());
    c.register_tm("2.2.0");
    failed_with_io(c.call(begin()));
}

#[test]
fn an_answer_for_a_closed_connection_is_not_delivered_to_the_next_one_in_its_slot() {
    // A coordinator that accepts and never answers: calls time out after 800 ms.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hole.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        hole.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok((s, _)) = hole.accept() {
                kept.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let front = front_only(port, 800, 16 << 20);
    let started = Instant::now();
    {
        let mut a = Client::connect(front.local_addr());
        a.register_tm("2.2.0");
        a.send(&begin());
    } // closed before its answer
    std::thread::sleep(Duration::from_millis(200));
    // The freed slot is reused by the next connection.
    let mut b = Client::connect(front.local_addr());
    b.register_tm("2.2.0");
    // Past A's timeout: its failed answer was produced, and must have been dropped.
    std::thread::sleep(Duration::from_millis(1200).saturating_sub(started.elapsed()));
    let mut wire = BytesMut::new();
    Frame::ping(4242).encode(&mut wire).expect("encode");
    b.write(&wire);
    assert_eq!(b.recv_frame(), Frame::pong(4242), "nothing before the PONG");
    failed_with_io(b.call(begin()));
    held.join().expect("hole");
}

#[test]
fn a_client_that_does_not_read_is_closed_past_the_outbound_cap() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let front = front_only(port, 1000, 64 * 1024);
    let mut c = Client::connect(front.local_addr());
    // PINGs without reading the PONGs, until the front end closes the connection.
    let mut pings = BytesMut::new();
    for id in 0..4096 {
        Frame::ping(id).encode(&mut pings).expect("encode");
    }
    let mut writer = c.stream.try_clone().expect("clone");
    writer
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let sender = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if writer.write_all(&pings).is_err() {
                return true;
            }
        }
        false
    });
    assert!(
        sender.join().expect("sender"),
        "the front end never closed the connection"
    );
    // What the kernel buffered is readable, then the connection ends.
    let mut sink = vec![0u8; 1 << 16];
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < until, "no end of stream");
        match c.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    // Others are still served.
    let mut other = Client::connect(front.local_addr());
    other.register_tm("2.2.0");
}

#[test]
fn a_client_that_half_closes_right_after_its_last_frames_is_served_then_closed() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let front = front_only(port, 1000, 16 << 20);
    for round in 0..20 {
        let mut c = Client::connect(front.local_addr());
        c.register_rm("2.2.0", "jdbc:mysql://h/db");
        // Two PINGs and the end of the stream in one write burst: the front end reads the
        // frames in one short read, and must still see the end that came with them.
        let mut wire = BytesMut::new();
        Frame::ping(1).encode(&mut wire).expect("encode");
        Frame::ping(2).encode(&mut wire).expect("encode");
        c.write(&wire);
        c.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        // The RM is forgotten (its connection closed) within a bounded time.
        let until = Instant::now() + Duration::from_secs(5);
        while !front.rm_registry().connections().is_empty() {
            assert!(
                Instant::now() < until,
                "round {round}: the half-closed RM connection is still registered"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // And the client reads the end of the stream (after any PONG that made it out).
        while let Some(frame) = c.try_recv_frame() {
            assert!(frame.is_heartbeat(), "round {round}: {frame:?}");
        }
    }
}

#[test]
fn a_frame_trickling_in_is_cut_off_at_the_frame_deadline() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let front = common::front_only_with(port, |c| {
        c.frame_timeout = Duration::from_millis(600);
    });
    let mut wire = BytesMut::new();
    Frame::ping(7).encode(&mut wire).expect("encode");
    // One byte every 100 ms: the frame is never whole in time.
    let mut slow = Client::connect(front.local_addr());
    let started = Instant::now();
    for b in wire.iter().take(wire.len() - 1) {
        if slow.stream.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    slow.expect_closed();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );
    // Whole frames with pauses longer than the deadline between them are served, and so is
    // a frame in two halves within it.
    let mut ok = Client::connect(front.local_addr());
    for id in 0..2 {
        let mut ping = BytesMut::new();
        Frame::ping(id).encode(&mut ping).expect("encode");
        ok.write(&ping);
        assert!(ok.recv_frame().is_heartbeat());
        std::thread::sleep(Duration::from_millis(900));
    }
    let (head, tail) = wire.split_at(wire.len() / 2);
    ok.write(head);
    std::thread::sleep(Duration::from_millis(200));
    ok.write(tail);
    assert!(ok.recv_frame().is_heartbeat());
}
