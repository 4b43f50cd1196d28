//! UDP adapters: one socket per adapter, owned by one net thread.
//!
//! Each datagram carries one whole frame, 4-byte big-endian length (itself included) and the
//! packet, which is how @tars/rpc and TarsCpp frame UDP: the same bytes as one TCP frame. A
//! datagram whose length prefix disagrees with its size, or that exceeds the server's
//! `max_packet`, or whose packet does not decode, is dropped (debug log, counter). Each reply
//! goes back as one datagram to the address the request came from; replies that do not fit
//! a datagram are replaced by an error answer (-2) when that fits, else dropped with a log.
//! Replies that meet a full socket buffer wait in a bounded queue for the writable event.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mio::net::UdpSocket;

use super::stats::IoCounters;
use crate::codec::{DecodeLimits, Reader, TarsStruct};
use crate::packet::{
    version, ResponsePacket, RetCode, TupResponse, TupVersion, UniAttribute, MIN_FRAME,
};
use crate::server::Response;

/// The largest UDP payload over IPv4 (65,535 - 8 bytes of UDP header - 20 of IP header).
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// Datagrams received per round before they are dispatched (the socket is then read again
/// until it would block).
const RECV_ROUND: usize = 256;

/// Why a request datagram was dropped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DatagramError {
    /// Fewer bytes than the smallest frame.
    #[error("datagram of {0} bytes is shorter than a frame")]
    TooShort(usize),
    /// The length prefix is not the datagram's size.
    #[error("length prefix {prefix} disagrees with the datagram size {size}")]
    LengthMismatch {
        /// The announced frame length.
        prefix: u64,
        /// The bytes received.
        size: usize,
    },
    /// The frame exceeds the server's `max_packet`.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// The frame length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// The packet body of a datagram that holds exactly one frame of at most `max_packet` bytes.
pub(crate) fn frame_body(datagram: &[u8], max_packet: usize) -> Result<&[u8], DatagramError> {
    let size = datagram.len();
    let Some(prefix) = datagram.get(..4) else {
        return Err(DatagramError::TooShort(size));
    };
    let prefix = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as u64;
    if prefix != size as u64 {
        return Err(DatagramError::LengthMismatch { prefix, size });
    }
    if size < MIN_FRAME {
        return Err(DatagramError::TooShort(size));
    }
    if size > max_packet {
        return Err(DatagramError::TooLong {
            len: size,
            max: max_packet,
        });
    }
    Ok(&datagram[4..])
}

/// Splits the frames the server itself encoded (business threads hand over a batch of them
/// in one buffer) back into one buffer per frame. Stops at anything inconsistent.
pub(crate) fn split_frames(bytes: &Bytes) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(prefix) = bytes.get(at..at + 4) {
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len < MIN_FRAME || at + len > bytes.len() {
            tracing::error!("udp: internal reply buffer holds a bad frame length {len}");
            break;
        }
        frames.push(bytes.slice(at..at + len));
        at += len;
    }
    frames
}

/// An error answer (-2, the reply could not be sent) in the layout of `frame`, a reply too
/// large for a datagram; `None` if the frame does not decode as a reply.
pub(crate) fn oversized_answer(frame: &Bytes, limits: DecodeLimits) -> Option<Bytes> {
    let body = frame.slice(4..);
    let desc = format!(
        "reply of {} bytes exceeds the UDP datagram limit of {MAX_DATAGRAM} bytes",
        frame.len()
    );
    let code = RetCode::EncodeErr.code();
    let ver = Reader::from_bytes(&body, limits)
        .read_optional::<i16>(1)
        .ok()?
        .unwrap_or(version::TARS);
    let response = match TupVersion::from_code(ver) {
        Some(tup) if ver == version::TUP || ver == version::TUP_COMPLEX => {
            // TUP replies use the RequestPacket layout.
            let p =
                crate::packet::RequestPacket::read_fields(&mut Reader::from_bytes(&body, limits))
                    .ok()?;
            Response::Tup(TupResponse {
                request_id: p.request_id,
                servant_name: p.servant_name,
                func_name: p.func_name,
                ret: code,
                desc: desc.into(),
                attrs: UniAttribute::with_version(tup),
                context: p.context,
            })
        }
        _ => {
            let mut p = ResponsePacket::read_fields(&mut Reader::from_bytes(&body, limits)).ok()?;
            p.ret = code;
            p.buffer = Bytes::new();
            p.result_desc = desc.into();
            Response::Tars(p)
        }
    };
    let mut out = BytesMut::new();
    response.write_frame(&mut out);
    Some(out.freeze())
}

/// A UDP adapter's socket and the replies waiting for it to become writable.
pub(crate) struct UdpAdapter {
    pub socket: UdpSocket,
    out: VecDeque<(SocketAddr, Bytes)>,
    out_bytes: usize,
    max_out_bytes: usize,
    /// Registered for writable events (the last flush hit WouldBlock).
    pub want_write: bool,
    /// Has replies queued this loop pass (in the net thread's dirty list).
    pub dirty: bool,
    counters: Arc<IoCounters>,
}

impl UdpAdapter {
    pub fn new(socket: UdpSocket, max_out_bytes: usize, counters: Arc<IoCounters>) -> UdpAdapter {
        UdpAdapter {
            socket,
            out: VecDeque::new(),
            out_bytes: 0,
            max_out_bytes,
            want_write: false,
            dirty: false,
            counters,
        }
    }

    /// Receives up to one round of datagrams. Well-formed frames are returned with their
    /// sender; the rest are dropped and counted. The bool says whether the socket is drained
    /// (WouldBlock or an error); otherwise the caller reads again after dispatching.
    pub fn receive(
        &mut self,
        scratch: &mut [u8],
        max_packet: usize,
    ) -> (Vec<(SocketAddr, Bytes)>, bool) {
        let mut frames = Vec::new();
        while frames.len() < RECV_ROUND {
            match self.socket.recv_from(scratch) {
                Ok((n, peer)) => {
                    IoCounters::add(&self.counters.reads, 1);
                    // `scratch` is larger than any datagram, so `n` is the whole datagram.
                    match frame_body(&scratch[..n], max_packet) {
                        Ok(body) => {
                            IoCounters::add(&self.counters.requests, 1);
                            frames.push((peer, Bytes::copy_from_slice(body)));
                        }
                        Err(e) => {
                            IoCounters::add(&self.counters.udp_bad_datagrams, 1);
                            tracing::debug!("udp: dropping a datagram from {peer}: {e}");
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (frames, true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An ICMP error from an earlier send surfacing on this socket: skip it.
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        || e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => {
                    tracing::warn!("udp: receive failed: {e}");
                    return (frames, true);
                }
            }
        }
        (frames, false)
    }

    /// Queues one reply frame for `peer`. Too large a frame is replaced by an error answer;
    /// a full queue drops it. Both are logged and counted.
    pub fn queue(&mut self, peer: SocketAddr, frame: Bytes, limits: DecodeLimits) {
        IoCounters::add(&self.counters.responses, 1);
        let frame = if frame.len() > MAX_DATAGRAM {
            IoCounters::add(&self.counters.udp_oversized_replies, 1);
            match oversized_answer(&frame, limits).filter(|f| f.len() <= MAX_DATAGRAM) {
                Some(answer) => {
                    tracing::warn!(
                        "udp: reply of {} bytes to {peer} exceeds the datagram limit of \
                         {MAX_DATAGRAM} bytes; answering -2 instead",
                        frame.len()
                    );
                    answer
                }
                None => {
                    tracing::warn!(
                        "udp: reply of {} bytes to {peer} exceeds the datagram limit of \
                         {MAX_DATAGRAM} bytes; dropped",
                        frame.len()
                    );
                    IoCounters::add(&self.counters.udp_unsent_replies, 1);
                    return;
                }
            }
        } else {
            frame
        };
        if self.out_bytes + frame.len() > self.max_out_bytes {
            tracing::warn!(
                "udp: reply to {peer} dropped: {} bytes of replies already wait for the socket",
                self.out_bytes
            );
            IoCounters::add(&self.counters.udp_unsent_replies, 1);
            return;
        }
        self.out_bytes += frame.len();
        self.out.push_back((peer, frame));
    }

    /// Bytes of replies waiting to be sent.
    pub fn pending_write(&self) -> usize {
        self.out_bytes
    }

    /// Sends queued replies until done or the socket would block; returns whether everything
    /// was sent. A reply the socket refuses for another reason is dropped (logged, counted).
    pub fn flush(&mut self) -> bool {
        while let Some((peer, frame)) = self.out.front() {
            match self.socket.send_to(frame, *peer) {
                Ok(_) => IoCounters::add(&self.counters.writes, 1),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("udp: reply of {} bytes to {peer} failed: {e}", frame.len());
                    IoCounters::add(&self.counters.udp_unsent_replies, 1);
                }
            }
            if let Some((_, frame)) = self.out.pop_front() {
                self.out_bytes -= frame.len();
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{packet_type, RequestPacket};

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn a_datagram_must_hold_exactly_one_frame() {
        let ok = frame(b"abc");
        assert_eq!(frame_body(&ok, 100), Ok(&b"abc"[..]));
        assert_eq!(frame_body(&ok[..3], 100), Err(DatagramError::TooShort(3)));
        assert_eq!(
            frame_body(&ok[..6], 100),
            Err(DatagramError::LengthMismatch { prefix: 7, size: 6 })
        );
        let mut extra = ok.clone();
        extra.push(0);
        assert!(matches!(
            frame_body(&extra, 100),
            Err(DatagramError::LengthMismatch { .. })
        ));
        assert_eq!(
            frame_body(&[0, 0, 0, 4], 100),
            Err(DatagramError::TooShort(4))
        );
        assert_eq!(
            frame_body(&ok, 6),
            Err(DatagramError::TooLong { len: 7, max: 6 })
        );
    }

    #[test]
    fn reply_batches_split_into_frames() {
        let mut all = frame(b"one");
        all.extend(frame(b"second"));
        let frames = split_frames(&Bytes::from(all.clone()));
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[1][4..], b"second");
        all.extend([0, 0, 0, 99, 1]);
        assert_eq!(
            split_frames(&Bytes::from(all)).len(),
            2,
            "stops at a bad length"
        );
    }

    #[test]
    fn oversized_replies_become_error_answers_in_their_layout() {
        let limits = DecodeLimits::DEFAULT;
        let big = ResponsePacket {
            version: version::TARS,
            request_id: 7,
            buffer: Bytes::from(vec![1u8; 70_000]),
            ..ResponsePacket::default()
        };
        let mut out = BytesMut::new();
        Response::Tars(big).write_frame(&mut out);
        let answer = oversized_answer(&out.freeze(), limits).expect("an answer");
        assert!(answer.len() < 200);
        let p = ResponsePacket::read_fields(&mut Reader::from_bytes(&answer.slice(4..), limits))
            .expect("decodes");
        assert_eq!((p.request_id, p.ret, p.buffer.len()), (7, -2, 0));
        assert!(p.result_desc.contains("65507"));

        let mut attrs = UniAttribute::with_version(TupVersion::Simple);
        attrs.put("", &vec![2u8; 70_000]);
        let tup = TupResponse {
            request_id: 9,
            servant_name: "S".into(),
            func_name: "f".into(),
            ret: 0,
            desc: "".into(),
            attrs,
            context: Default::default(),
        };
        let mut out = BytesMut::new();
        Response::Tup(tup).write_frame(&mut out);
        let answer = oversized_answer(&out.freeze(), limits).expect("an answer");
        let p = RequestPacket::read_fields(&mut Reader::from_bytes(&answer.slice(4..), limits))
            .expect("decodes");
        assert_eq!(p.packet_type, packet_type::NORMAL);
        let back = TupResponse::from_packet(&p).expect("a TUP reply");
        assert_eq!((back.request_id, back.ret), (9, -2));
    }
}
