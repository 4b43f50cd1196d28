//! The baseline for RPC benchmarks: a minimal mio server that echoes every complete
//! length-prefixed frame back, without decoding anything. Prints `READY <port>`; runs for
//! `--seconds` (default 60).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

#[derive(Parser)]
struct Args {
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seconds to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(format!("127.0.0.1:{}", args.port).parse()?)?;
    poll.registry()
        .register(&mut listener, Token(0), Interest::READABLE)?;
    println!("READY {}", listener.local_addr()?.port());
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 1usize;
    let mut events = Events::with_capacity(256);
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut chunk = vec![0u8; 64 * 1024];
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(200)))?;
        for ev in events.iter() {
            if ev.token() == Token(0) {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    poll.registry().register(
                        &mut stream,
                        Token(next),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.insert(
                        next,
                        Conn {
                            stream,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                        },
                    );
                    next += 1;
                }
                continue;
            }
            let id = ev.token().0;
            let Some(c) = conns.get_mut(&id) else {
                continue;
            };
            let mut dead = false;
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        dead = true;
                        break;
                    }
                    Ok(n) => c.rbuf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        dead = true;
                        break;
                    }
                }
            }
            // Move every complete frame to the write buffer, untouched.
            let mut used = 0;
            while c.rbuf.len() - used >= 4 {
                let len = u32::from_be_bytes([
                    c.rbuf[used],
                    c.rbuf[used + 1],
                    c.rbuf[used + 2],
                    c.rbuf[used + 3],
                ]) as usize;
                if len < 4 || c.rbuf.len() - used < len {
                    break;
                }
                c.wbuf.extend_from_slice(&c.rbuf[used..used + len]);
                used += len;
            }
            c.rbuf.drain(..used);
            while !c.wbuf.is_empty() {
                match c.stream.write(&c.wbuf) {
                    Ok(n) => {
                        c.wbuf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        dead = true;
                        break;
                    }
                }
            }
            if dead {
                conns.remove(&id);
            }
        }
    }
    Ok(())
}
