//! Per-connection state: the socket, the frame decoder, the outbound buffer and what the
//! client registered as.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use tars_seata::bytes::BytesMut;
use tars_seata::{Frame, FrameDecoder};

use crate::codes::is_old_client;

/// A connection's identity: its slot in the listener and the slot's generation, so that a
/// response for a connection that closed (its slot reused) is dropped, never delivered to
/// the next connection in the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: usize,
    pub(crate) generation: u64,
}

/// What a client registered as on one connection (RegisterTM / RegisterRM requests add up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// A RegisterTMRequest was accepted.
    pub tm: bool,
    /// A RegisterRMRequest was accepted.
    pub rm: bool,
    /// The application id of the latest registration.
    pub application_id: String,
    /// The transaction service group of the latest registration.
    pub transaction_service_group: String,
    /// The client version of the latest registration ("1.0" for seata-python).
    pub version: String,
    /// Every resource id of every RegisterRM on this connection.
    pub resource_ids: BTreeSet<String>,
}

impl Registration {
    /// Whether the client registered at all (as TM or RM): transaction requests are refused
    /// before.
    pub fn is_registered(&self) -> bool {
        self.tm || self.rm
    }

    /// Whether responses must avoid codes newer than the client (see [`crate::codes`]).
    pub fn is_old_client(&self) -> bool {
        is_old_client(&self.version)
    }

    /// Records who registered (the latest RegisterTM or RegisterRM wins): version,
    /// application id and transaction service group.
    pub fn identify(&mut self, version: String, application_id: String, group: String) {
        self.version = version;
        self.application_id = application_id;
        self.transaction_service_group = group;
    }

    /// Adds the comma-separated `resource_ids` of a RegisterRM (blanks ignored).
    pub fn add_resources(&mut self, resource_ids: &str) {
        self.resource_ids.extend(
            resource_ids
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        );
    }
}

/// One client connection of the listener thread.
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    decoder: FrameDecoder,
    inbuf: BytesMut,
    /// When the first byte of the frame still incomplete arrived (`None`: no partial frame).
    partial_since: Option<std::time::Instant>,
    outbuf: BytesMut,
    pub(crate) registration: Registration,
    /// Who the transaction requests come from, made once per registration (`None` until the
    /// first request after one).
    pub(crate) caller: Option<crate::dispatch::Caller>,
}

/// What [`Connection::read_available`] saw.
pub(crate) enum ReadOutcome {
    /// The socket has no more data for now.
    Drained,
    /// The peer closed its side (after the data read so far).
    Eof,
}

impl Connection {
    pub(crate) fn new(
        id: ConnId,
        stream: TcpStream,
        peer: SocketAddr,
        max_frame: usize,
    ) -> Connection {
        Connection {
            id,
            stream,
            peer,
            decoder: FrameDecoder::with_max_frame(max_frame),
            inbuf: BytesMut::new(),
            partial_since: None,
            outbuf: BytesMut::new(),
            registration: Registration::default(),
            caller: None,
        }
    }

    /// Reads until the socket is drained (edge-triggered readiness), handing every complete
    /// frame to `on_frame` as soon as it is in. A read that fills less than the buffer means
    /// the socket had no more (new data raises a new edge), so it ends the pass without the
    /// extra read that would only say WouldBlock; unless `until_eof` (the event reported the
    /// peer's close), which reads on until the end. A frame error or an `Err` of `on_frame`
    /// stops reading: the connection is to be closed.
    pub(crate) fn read_available(
        &mut self,
        until_eof: bool,
        mut on_frame: impl FnMut(&mut Connection, Frame) -> Result<(), String>,
    ) -> Result<ReadOutcome, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    let mut completed = false;
                    loop {
                        match self.decoder.decode(&mut self.inbuf) {
                            Ok(Some(frame)) => {
                                completed = true;
                                on_frame(self, frame)?
                            }
                            Ok(None) => break,
                            Err(e) => return Err(format!("frame error: {e}")),
                        }
                    }
                    // The frame deadline runs from the first byte of an incomplete frame.
                    self.partial_since = match (self.inbuf.is_empty(), completed) {
                        (true, _) => None,
                        (false, true) => Some(std::time::Instant::now()),
                        (false, false) => self.partial_since.or(Some(std::time::Instant::now())),
                    };
                    if n < chunk.len() && !until_eof {
                        return Ok(ReadOutcome::Drained);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Whether an incomplete frame has been arriving for longer than `limit` at `now`.
    pub(crate) fn frame_overdue(&self, now: std::time::Instant, limit: Duration) -> bool {
        self.partial_since
            .is_some_and(|since| now.duration_since(since) > limit)
    }

    /// Whether part of a frame is buffered.
    pub(crate) fn has_partial_frame(&self) -> bool {
        self.partial_since.is_some()
    }

    /// Queues an encoded frame; fails when the outbound buffer passes `max_outbound` even
    /// after writing what the socket takes (a peer that does not read).
    pub(crate) fn queue(&mut self, bytes: &[u8], max_outbound: usize) -> Result<(), String> {
        self.outbuf.extend_from_slice(bytes);
        if self.outbuf.len() > max_outbound {
            self.flush()?;
        }
        if self.outbuf.len() > max_outbound {
            return Err(format!(
                "{} bytes waiting to be sent (cap {max_outbound}): the peer does not read",
                self.outbuf.len()
            ));
        }
        Ok(())
    }

    /// Encodes and queues `frame`.
    pub(crate) fn queue_frame(&mut self, frame: &Frame, max_outbound: usize) -> Result<(), String> {
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        frame
            .encode(&mut buf)
            .map_err(|e| format!("encoding a response: {e}"))?;
        self.queue(&buf, max_outbound)
    }

    /// Whether bytes wait to be sent.
    pub(crate) fn has_output(&self) -> bool {
        !self.outbuf.is_empty()
    }

    /// Writes what it can of the outbound buffer (until it is empty or the socket would
    /// block; the next writable event resumes).
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(n) => {
                    let _ = self.outbuf.split_to(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_add_up_across_registrations() {
        let mut r = Registration::default();
        r.add_resources("jdbc:mysql://a/db1");
        r.add_resources("jdbc:mysql://a/db2, jdbc:mysql://a/db1,,");
        assert_eq!(
            r.resource_ids
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["jdbc:mysql://a/db1", "jdbc:mysql://a/db2"]
        );
    }
}
