//! One client connection owned by a net thread: buffered reads split into frames, and a write
//! buffer flushed until the socket would block.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mio::net::TcpStream;

use super::stats::IoCounters;
use crate::packet::{FrameCodec, FrameError};
use std::sync::Arc;

/// What a read pass produced.
pub(crate) struct ReadOutcome {
    /// Complete frames (packet bodies).
    pub frames: Vec<bytes::Bytes>,
    /// The peer closed its side (or the connection failed).
    pub closed: bool,
    /// The stream is unusable (malformed frame).
    pub error: Option<FrameError>,
    /// The TLS session failed (bad record, failed handshake, an alert from the peer).
    pub tls_error: Option<rustls::Error>,
}

pub(crate) struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub generation: u32,
    pub adapter: usize,
    pub last_active: Instant,
    /// When the first byte of the frame still incomplete arrived (`None`: no partial frame).
    pub partial_since: Option<Instant>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    frames: FrameCodec,
    pub want_write: bool,
    /// Queued bytes not yet attempted this loop (the connection is in the dirty list).
    pub dirty: bool,
    /// What this connection adds to the server's buffered bytes now.
    buffered: u64,
    /// Whether its first request authenticated it (always, where the adapter needs none).
    pub authenticated: bool,
    /// The identity it proved (local authentication's access key, or a TLS client
    /// certificate's name); `None` while anonymous.
    pub principal: Option<std::sync::Arc<str>>,
    counters: Arc<IoCounters>,
    /// The TLS session of a connection to an `ssl` adapter (boxed: plain connections stay
    /// small, and pay one branch per read and write for it).
    tls: Option<Box<rustls::ServerConnection>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.counters
            .buffered
            .fetch_sub(self.buffered, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An empty buffer with more room than this gives its memory back (a connection that once
/// received or sent a large frame does not keep its size while idle).
const KEEP_EMPTY_CAPACITY: usize = 64 * 1024;

impl Connection {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        generation: u32,
        adapter: usize,
        max_packet: usize,
        counters: Arc<IoCounters>,
    ) -> Connection {
        Connection {
            stream,
            peer,
            generation,
            adapter,
            last_active: Instant::now(),
            partial_since: None,
            // Allocated as bytes arrive: an idle connection holds no buffer.
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            frames: FrameCodec::with_max_frame(max_packet),
            want_write: false,
            dirty: false,
            buffered: 0,
            authenticated: true,
            principal: None,
            counters,
            tls: None,
        }
    }

    /// Makes this a TLS connection. Until its handshake is done it counts as a frame in
    /// progress, so a client that stalls mid-handshake is closed at the frame deadline.
    pub fn start_tls(&mut self, tls: rustls::ServerConnection) {
        self.tls = Some(Box::new(tls));
        self.partial_since = Some(self.last_active);
    }

    /// Whether the TLS session has records to send (always false for plain TCP).
    pub fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Reads until the socket is drained, then splits every complete frame. `scratch` is
    /// the net thread's reusable read buffer: only the bytes received are copied, so no buffer
    /// is zero-filled per read.
    ///
    /// Drained means WouldBlock, or (unless `until_eof`) a read shorter than `scratch`: a short
    /// TCP read empties the receive queue at that instant, and anything arriving later raises
    /// a new edge. That saves the extra read that would only return WouldBlock (tokio makes
    /// the same inference). After a FIN the caller passes `until_eof` so the end of stream is
    /// seen.
    pub fn read(&mut self, scratch: &mut [u8], until_eof: bool) -> ReadOutcome {
        let mut out = ReadOutcome {
            frames: Vec::new(),
            closed: false,
            error: None,
            tls_error: None,
        };
        if self.tls.is_some() {
            self.read_tls(scratch, &mut out);
            return out;
        }
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    out.closed = true;
                    break;
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&scratch[..n]);
                    self.last_active = Instant::now();
                    IoCounters::add(&self.counters.reads, 1);
                    if n < scratch.len() && !until_eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    out.closed = true;
                    break;
                }
            }
            // Decode as we go so a peer streaming faster than we parse cannot grow the buffer
            // past one frame.
            if let Err(e) = self.split_frames(&mut out.frames) {
                out.error = Some(e);
                break;
            }
        }
        if out.error.is_none() {
            if let Err(e) = self.split_frames(&mut out.frames) {
                out.error = Some(e);
            }
        }
        // The frame deadline runs from the first byte of an incomplete frame: a frame that
        // completed in this pass starts the clock again for what follows it.
        self.partial_since = match (self.rbuf.is_empty(), out.frames.is_empty()) {
            (true, _) => None,
            (false, false) => Some(self.last_active),
            (false, true) => self.partial_since.or(Some(self.last_active)),
        };
        IoCounters::add(&self.counters.requests, out.frames.len() as u64);
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_EMPTY_CAPACITY {
            self.rbuf = BytesMut::new();
        }
        self.account();
        out
    }

    /// [`read`](Self::read) for a TLS connection: everything the socket has goes through
    /// rustls, and the plaintext through the frame splitter. Learns the client's name from
    /// its certificate when the handshake completes (mutual TLS).
    fn read_tls(&mut self, scratch: &mut [u8], out: &mut ReadOutcome) {
        let Some(tls) = self.tls.as_deref_mut() else {
            return;
        };
        let was_handshaking = tls.is_handshaking();
        let (read, _) =
            crate::tls::read_into(tls, &mut self.stream, &mut self.rbuf, scratch, usize::MAX);
        let handshaking = tls.is_handshaking();
        if was_handshaking && !handshaking {
            self.principal = tls
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(crate::tls::principal_of);
        }
        if read.raw > 0 {
            self.last_active = Instant::now();
            IoCounters::add(&self.counters.reads, 1);
        }
        out.closed = read.closed;
        out.tls_error = read.error;
        if let Err(e) = self.split_frames(&mut out.frames) {
            out.error = Some(e);
        }
        // The frame deadline covers the handshake, and TLS records that arrived without
        // yielding a whole frame's plaintext (a truncated record waits inside rustls).
        let pending_record = read.raw > 0 && read.plain == 0;
        self.partial_since = if !self.rbuf.is_empty() || handshaking || pending_record {
            if out.frames.is_empty() {
                self.partial_since.or(Some(self.last_active))
            } else {
                Some(self.last_active)
            }
        } else {
            None
        };
        IoCounters::add(&self.counters.requests, out.frames.len() as u64);
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_EMPTY_CAPACITY {
            self.rbuf = BytesMut::new();
        }
        self.account();
    }

    /// Bytes this connection holds: the memory of its partial request frame and of its
    /// unsent replies (buffer capacity, which is what the process pays, not just the bytes
    /// in them).
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Brings the server's buffered-bytes total up to date with this connection's.
    fn account(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = (self.rbuf.capacity() + self.wbuf.capacity()) as u64;
        if now > self.buffered {
            self.counters
                .buffered
                .fetch_add(now - self.buffered, Relaxed);
        } else {
            self.counters
                .buffered
                .fetch_sub(self.buffered - now, Relaxed);
        }
        self.buffered = now;
    }

    /// Whether an incomplete frame has been arriving for longer than `limit` at `now`.
    pub fn frame_overdue(&self, now: Instant, limit: Duration) -> bool {
        self.partial_since
            .is_some_and(|since| now.duration_since(since) > limit)
    }

    fn split_frames(&mut self, frames: &mut Vec<bytes::Bytes>) -> Result<(), FrameError> {
        while let Some(frame) = self.frames.decode_frame(&mut self.rbuf)? {
            frames.push(frame);
        }
        Ok(())
    }

    /// Bytes queued and not yet written (plus one while a TLS session holds records to send).
    pub fn pending_write(&self) -> usize {
        self.wbuf.len() + usize::from(self.tls_wants_write())
    }

    /// Queues `frames` encoded frames.
    pub fn queue(&mut self, bytes: &[u8], frames: usize) {
        self.wbuf.extend_from_slice(bytes);
        IoCounters::add(&self.counters.responses, frames as u64);
        self.account();
    }

    /// Encodes a response straight into the write buffer.
    pub fn queue_response(&mut self, response: &crate::server::Response) {
        response.write_frame(&mut self.wbuf);
        IoCounters::add(&self.counters.responses, 1);
        self.account();
    }

    /// Writes queued bytes until done or the socket would block. Returns whether everything
    /// was written; an error means the connection is dead.
    pub fn flush(&mut self) -> io::Result<bool> {
        let done = self.write_out();
        if self.wbuf.is_empty() && self.wbuf.capacity() > KEEP_EMPTY_CAPACITY {
            self.wbuf = BytesMut::new();
        }
        self.account();
        done
    }

    fn write_out(&mut self) -> io::Result<bool> {
        if let Some(tls) = self.tls.as_deref_mut() {
            let (taken, done) = crate::tls::write_from(tls, &mut self.stream, &self.wbuf)?;
            if taken > 0 {
                self.wbuf.advance(taken);
                IoCounters::add(&self.counters.writes, 1);
                self.last_active = Instant::now();
            }
            return Ok(done);
        }
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "peer stopped reading",
                    ))
                }
                Ok(n) => {
                    self.wbuf.advance(n);
                    IoCounters::add(&self.counters.writes, 1);
                    self.last_active = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
