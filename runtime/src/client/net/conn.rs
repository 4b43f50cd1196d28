//! The socket of one adapter on its net thread: connecting, buffered reads split into frames,
//! and queued writes (a byte stream for TCP, one datagram per request for UDP).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use mio::net::{TcpStream, UdpSocket};

use super::adapter::AdapterShared;
use crate::packet::{FrameCodec, FrameError};

/// The state of an adapter's socket.
pub(super) enum Socket {
    /// Not connected; the next call connects.
    Idle,
    /// A non-blocking connect in progress.
    Connecting(TcpStream),
    /// A connected TCP stream (shared with synchronous callers that write directly; see
    /// [`WriteGate`](super::gate::WriteGate)).
    Tcp(Arc<TcpStream>),
    /// A UDP socket connected to the endpoint.
    Udp(UdpSocket),
}

/// What a read pass produced.
pub(super) struct ReadOutcome {
    /// Complete frames (packet bodies).
    pub frames: Vec<Bytes>,
    /// Why the connection can no longer be used, if it cannot.
    pub failed: Option<String>,
    /// The read budget ran out before the socket was drained: read again next pass.
    pub more: bool,
}

/// Reads (of up to 64 KiB) or datagrams taken from one socket in one pass; a peer sending
/// without pause then cannot keep its net thread from its other sockets and its deadlines.
const READ_BUDGET: usize = 32;

/// One adapter's connection state on its net thread.
pub(super) struct Conn {
    pub adapter: Arc<AdapterShared>,
    /// The adapter's slot generation (from its `Open`).
    pub generation: u32,
    pub socket: Socket,
    /// The generation of the current socket, carried in its mio token.
    pub socket_generation: u32,
    /// Calls waiting for a response on the current socket.
    pub waiting: usize,
    /// The connection is in the net thread's list to flush at the end of the pass.
    pub dirty: bool,
    rbuf: BytesMut,
    wbuf: BytesMut,
    datagrams: VecDeque<Bytes>,
    queued_datagram_bytes: usize,
    frames: FrameCodec,
    /// The TLS session of a connection to an `ssl` endpoint (its socket is then never
    /// published for direct writes: every byte goes through the session on the net thread).
    tls: Option<Box<rustls::ClientConnection>>,
}

impl Conn {
    pub fn new(adapter: Arc<AdapterShared>, generation: u32, max_frame: usize) -> Conn {
        Conn {
            adapter,
            generation,
            socket: Socket::Idle,
            socket_generation: 0,
            waiting: 0,
            dirty: false,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            datagrams: VecDeque::new(),
            queued_datagram_bytes: 0,
            frames: FrameCodec::with_max_frame(max_frame),
            tls: None,
        }
    }

    /// Starts a TLS session on the connected socket.
    pub fn start_tls(&mut self, tls: rustls::ClientConnection) {
        self.tls = Some(Box::new(tls));
    }

    /// Whether the TLS session is still handshaking (its requests have not left yet).
    pub fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Whether there is anything to write: queued bytes, or TLS records.
    pub fn needs_flush(&self) -> bool {
        self.queued() > 0 || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Bytes queued and not written yet.
    pub fn queued(&self) -> usize {
        self.wbuf.len() + self.queued_datagram_bytes
    }

    /// Puts the rest of a synchronous caller's partial write in front of the queue.
    pub fn queue_first(&mut self, rest: &[u8]) {
        let mut wbuf = BytesMut::with_capacity(rest.len() + self.wbuf.len());
        wbuf.extend_from_slice(rest);
        wbuf.extend_from_slice(&self.wbuf);
        self.wbuf = wbuf;
    }

    /// Queues a request frame.
    pub fn queue(&mut self, frame: Bytes) {
        if self.adapter.udp {
            self.queued_datagram_bytes += frame.len();
            self.datagrams.push_back(frame);
        } else {
            self.wbuf.extend_from_slice(&frame);
        }
    }

    /// Forgets the socket and everything buffered for it.
    pub fn reset(&mut self) -> Socket {
        self.rbuf.clear();
        self.wbuf.clear();
        self.datagrams.clear();
        self.queued_datagram_bytes = 0;
        self.waiting = 0;
        self.frames = FrameCodec::with_max_frame(self.frames.max_frame());
        self.tls = None;
        std::mem::replace(&mut self.socket, Socket::Idle)
    }

    /// Reads until the socket is drained and splits every complete frame.
    pub fn read(&mut self, scratch: &mut [u8]) -> ReadOutcome {
        let mut out = ReadOutcome {
            frames: Vec::new(),
            failed: None,
            more: false,
        };
        let mut budget = READ_BUDGET;
        if let (Some(tls), Socket::Tcp(stream)) = (self.tls.as_deref_mut(), &self.socket) {
            let (read, more) =
                crate::tls::read_into(tls, &mut &**stream, &mut self.rbuf, scratch, READ_BUDGET);
            out.more = more;
            if let Err(e) = split(&mut self.frames, &mut self.rbuf, &mut out.frames) {
                out.failed = Some(bad_response(&self.adapter.address, &e));
            } else if let Some(e) = read.error {
                out.failed = Some(format!("TLS with {} failed: {e}", self.adapter.address));
            } else if read.closed {
                out.failed = Some(format!("{} closed the connection", self.adapter.address));
            }
            return out;
        }
        match &mut self.socket {
            Socket::Tcp(stream) => loop {
                if budget == 0 {
                    out.more = true;
                    break;
                }
                budget -= 1;
                match (&**stream).read(scratch) {
                    Ok(0) => {
                        out.failed =
                            Some(format!("{} closed the connection", self.adapter.address));
                        break;
                    }
                    Ok(n) => {
                        self.rbuf.extend_from_slice(&scratch[..n]);
                        if let Err(e) = split(&mut self.frames, &mut self.rbuf, &mut out.frames) {
                            out.failed = Some(bad_response(&self.adapter.address, &e));
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        out.failed =
                            Some(format!("read from {} failed: {e}", self.adapter.address));
                        break;
                    }
                }
            },
            Socket::Udp(socket) => loop {
                if budget == 0 {
                    out.more = true;
                    break;
                }
                budget -= 1;
                match socket.recv(scratch) {
                    Ok(n) => {
                        let mut datagram = BytesMut::from(&scratch[..n]);
                        match self.frames.decode_frame(&mut datagram) {
                            Ok(Some(frame)) if datagram.is_empty() => out.frames.push(frame),
                            _ => tracing::debug!(
                                endpoint = %self.adapter.address,
                                bytes = n,
                                "dropping a UDP datagram that is not one whole response frame"
                            ),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // ICMP errors (port unreachable) surface here; calls time out as usual.
                    Err(e) => {
                        tracing::debug!(endpoint = %self.adapter.address, error = %e,
                            "UDP receive error");
                        break;
                    }
                }
            },
            Socket::Idle | Socket::Connecting(_) => {}
        }
        out
    }

    /// Writes what is queued until done or the socket would block. `Err` means the connection
    /// is dead.
    pub fn flush(&mut self) -> Result<(), String> {
        if let (Some(tls), Socket::Tcp(stream)) = (self.tls.as_deref_mut(), &self.socket) {
            let (taken, _) = crate::tls::write_from(tls, &mut &**stream, &self.wbuf)
                .map_err(|e| format!("write to {} failed: {e}", self.adapter.address))?;
            self.wbuf.advance(taken);
            if self.wbuf.is_empty() && self.wbuf.capacity() > 1024 * 1024 {
                self.wbuf = BytesMut::new();
            }
            return Ok(());
        }
        match &mut self.socket {
            Socket::Tcp(stream) => {
                while !self.wbuf.is_empty() {
                    match (&**stream).write(&self.wbuf) {
                        Ok(0) => return Err(format!("{} stopped reading", self.adapter.address)),
                        Ok(n) => self.wbuf.advance(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(format!("write to {} failed: {e}", self.adapter.address))
                        }
                    }
                }
                // Keep a drained buffer from holding a burst's worth of memory forever.
                if self.wbuf.is_empty() && self.wbuf.capacity() > 1024 * 1024 {
                    self.wbuf = BytesMut::new();
                }
                Ok(())
            }
            Socket::Udp(socket) => {
                while let Some(datagram) = self.datagrams.front() {
                    match socket.send(datagram) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // Refused or unreachable: the call times out as usual.
                        Err(e) => tracing::debug!(endpoint = %self.adapter.address,
                            error = %e, "UDP send failed"),
                    }
                    self.queued_datagram_bytes -= datagram.len();
                    self.datagrams.pop_front();
                }
                Ok(())
            }
            Socket::Idle | Socket::Connecting(_) => Ok(()),
        }
    }
}

fn split(
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    frames: &mut Vec<Bytes>,
) -> Result<(), FrameError> {
    while let Some(frame) = codec.decode_frame(buf)? {
        frames.push(frame);
    }
    Ok(())
}

fn bad_response(address: &str, e: &FrameError) -> String {
    format!("bad response from {address}: {e}")
}

/// Resolves an endpoint's address (the first address it resolves to).
pub(super) fn resolve(address: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} does not resolve"))
}
