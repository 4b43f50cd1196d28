//! One Seata client connection (TM or RM): request ids of its own, responses matched by id in
//! whatever order they come, and the coordinator's own requests (phase two, PING) answered.
//!
//! Each [`Conn`] runs two tasks on the runtime it was made on: a writer that drains a channel
//! of encoded frames into one `write_all` (every frame queued by then goes out in the same
//! write), and a reader that cuts frames out of each read with [`FrameDecoder`] (several per
//! read, or one split over reads). A response completes the pending call with its id; a
//! BranchCommit / BranchRollback request is answered at once by [`answer_server_request`]
//! (same request id) and counted in [`Counters`]; a PING is answered with a PONG. When the
//! connection closes or breaks every pending call fails with [`CallError::Closed`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars_seata::bytes::{Bytes, BytesMut};
use tars_seata::message::{BranchPhaseTwoResponse, TransactionResponse};
use tars_seata::{BranchStatus, Frame, FrameDecoder, Message, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// What the reader tasks of every connection saw, for the report.
#[derive(Debug, Default)]
pub struct Counters {
    /// BranchCommit requests answered (PhaseTwo_Committed).
    pub branch_commits: AtomicU64,
    /// BranchRollback requests answered (PhaseTwo_Rollbacked).
    pub branch_rollbacks: AtomicU64,
    /// PINGs from the coordinator answered with a PONG.
    pub pings: AtomicU64,
    /// One-way requests (UndoLogDelete) received; nothing to answer.
    pub one_way: AtomicU64,
    /// Frames that could not be handled: a response with no pending call (e.g. after its
    /// timeout), a request this client does not know, or one whose body did not decode.
    pub unexpected: AtomicU64,
    /// Connections that closed or broke while the bench ran.
    pub closed: AtomicU64,
}

/// Why a call got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallError {
    /// No response within the call timeout.
    Timeout,
    /// The connection closed (or broke) before the response came.
    Closed,
    /// The request did not encode.
    Encode,
    /// The response's body did not decode (or was a heartbeat).
    Decode,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallError::Timeout => "timed out",
            CallError::Closed => "connection closed",
            CallError::Encode => "request did not encode",
            CallError::Decode => "response did not decode",
        })
    }
}

/// Which phase-two request an RM answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseTwo {
    /// A BranchCommitRequest, answered PhaseTwo_Committed.
    Commit,
    /// A BranchRollbackRequest, answered PhaseTwo_Rollbacked.
    Rollback,
}

/// What to do with a frame of type Request or OneWay the coordinator sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerRequest {
    /// Send this response frame (same request id) and count the phase-two request.
    Answer(Frame, PhaseTwo),
    /// A one-way request (UndoLogDelete): nothing to send.
    OneWay,
    /// Not a request this client handles, or a body that did not decode (the reason).
    Unexpected(String),
}

/// The RM's answer to a coordinator request: a BranchCommit gets a BranchCommitResponse, a
/// BranchRollback a BranchRollbackResponse, both of message type Response with the request's
/// id, result Success, the xid and branch id echoed and status PhaseTwo_Committed /
/// PhaseTwo_Rollbacked (the branches of this bench have nothing to undo or confirm).
pub fn answer_server_request(frame: &Frame) -> ServerRequest {
    let msg = match frame.message() {
        Ok(Some(m)) => m,
        Ok(None) => return ServerRequest::Unexpected("a heartbeat, not a request".into()),
        Err(e) => return ServerRequest::Unexpected(format!("body did not decode: {e}")),
    };
    let (response, kind) = match (frame.message_type, msg) {
        (MessageType::Request, Message::BranchCommitRequest(r)) => (
            Message::BranchCommitResponse(BranchPhaseTwoResponse {
                result: TransactionResponse::success(),
                xid: r.xid,
                branch_id: r.branch_id,
                branch_status: BranchStatus::PhaseTwoCommitted,
            }),
            PhaseTwo::Commit,
        ),
        (MessageType::Request, Message::BranchRollbackRequest(r)) => (
            Message::BranchRollbackResponse(BranchPhaseTwoResponse {
                result: TransactionResponse::success(),
                xid: r.xid,
                branch_id: r.branch_id,
                branch_status: BranchStatus::PhaseTwoRollbacked,
            }),
            PhaseTwo::Rollback,
        ),
        (MessageType::OneWay, Message::UndoLogDeleteRequest(_)) => return ServerRequest::OneWay,
        (t, m) => {
            return ServerRequest::Unexpected(format!(
                "{t:?} frame with message type code {}",
                m.type_code()
            ))
        }
    };
    match Frame::with_message(MessageType::Response, frame.request_id, &response) {
        Ok(mut f) => {
            // Answer in the request's codec and compressor, as Java does (both are the
            // defaults: frame.message() only decodes SEATA without compression).
            f.codec = frame.codec;
            f.compressor = frame.compressor;
            ServerRequest::Answer(f, kind)
        }
        Err(e) => ServerRequest::Unexpected(format!("response did not encode: {e}")),
    }
}

type Pending = Mutex<HashMap<i32, oneshot::Sender<Frame>>>;

/// One connection to the coordinator's Seata port.
pub struct Conn {
    out: mpsc::UnboundedSender<Bytes>,
    pending: Arc<Pending>,
    next_id: AtomicI32,
    closed: Arc<AtomicBool>,
}

impl Conn {
    /// Connects to `addr` and starts the connection's reader and writer tasks on the current
    /// tokio runtime.
    pub async fn connect(addr: SocketAddr, counters: Arc<Counters>) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let (out, rx) = mpsc::unbounded_channel();
        let pending: Arc<Pending> = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(write_loop(writer, rx));
        tokio::spawn(read_loop(
            reader,
            out.clone(),
            pending.clone(),
            closed.clone(),
            counters,
        ));
        Ok(Conn {
            out,
            pending,
            next_id: AtomicI32::new(1),
            closed,
        })
    }

    /// Whether the connection closed or broke.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends `msg` as a Request with a fresh id and waits (at most `timeout`) for the
    /// Response with that id.
    pub async fn call(&self, msg: &Message, timeout: Duration) -> Result<Message, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = BytesMut::new();
        Frame::with_message(MessageType::Request, id, msg)
            .and_then(|f| f.encode(&mut buf))
            .map_err(|_| CallError::Encode)?;
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(id, tx);
        // The reader sets `closed` before it drains the pending calls: either it sees this
        // entry, or this sees the flag.
        if self.is_closed() || self.out.send(buf.freeze()).is_err() {
            self.lock_pending().remove(&id);
            return Err(CallError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(frame)) => match frame.message() {
                Ok(Some(m)) => Ok(m),
                _ => Err(CallError::Decode),
            },
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => {
                self.lock_pending().remove(&id);
                Err(CallError::Timeout)
            }
        }
    }

    /// Sends a PING (optional keep-alive; its PONG is ignored).
    pub fn ping(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = BytesMut::new();
        if Frame::ping(id).encode(&mut buf).is_ok() {
            let _ = self.out.send(buf.freeze());
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<Frame>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes whatever is queued, as few writes as possible; ends when every sender is gone or a
/// write fails. After the first frame the writer yields once, so the tasks that are ready
/// (the runtime would otherwise run the woken writer at once, one frame per write) queue
/// theirs first: writes carry batches, as those of a Tars client's net thread do.
pub(crate) async fn write_loop(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        buf.extend_from_slice(&first);
        tokio::task::yield_now().await;
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if writer.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = writer.shutdown().await;
}

/// Reads frames until the connection ends or sends a bad frame; then marks it closed and fails
/// every pending call.
async fn read_loop(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    out: mpsc::UnboundedSender<Bytes>,
    pending: Arc<Pending>,
    closed: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // Answers to the coordinator, sent in one go after each read.
    let mut answers = BytesMut::new();
    'read: loop {
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                // The stream cannot be followed after a bad frame.
                Err(_) => break 'read,
            };
            match frame.message_type {
                MessageType::Response => {
                    let waiter = pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&frame.request_id);
                    match waiter {
                        Some(tx) => {
                            let _ = tx.send(frame);
                        }
                        None => {
                            counters.unexpected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                MessageType::HeartbeatRequest => {
                    counters.pings.fetch_add(1, Ordering::Relaxed);
                    let _ = Frame::pong(frame.request_id).encode(&mut answers);
                }
                MessageType::HeartbeatResponse => {}
                MessageType::Request | MessageType::OneWay => match answer_server_request(&frame) {
                    ServerRequest::Answer(response, kind) => {
                        if response.encode(&mut answers).is_ok() {
                            match kind {
                                PhaseTwo::Commit => &counters.branch_commits,
                                PhaseTwo::Rollback => &counters.branch_rollbacks,
                            }
                            .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    ServerRequest::OneWay => {
                        counters.one_way.fetch_add(1, Ordering::Relaxed);
                    }
                    ServerRequest::Unexpected(_) => {
                        counters.unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                },
            }
        }
        if !answers.is_empty() && out.send(answers.split().freeze()).is_err() {
            break;
        }
    }
    closed.store(true, Ordering::Release);
    counters.closed.fetch_add(1, Ordering::Relaxed);
    // Dropping the senders fails the pending calls with `Closed`.
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tars_seata::message::{BranchPhaseTwoRequest, UndoLogDeleteRequest};
    use tars_seata::BranchType;

    fn request(t: MessageType, id: i32, msg: &Message) -> Frame {
        let mut wire = BytesMut::new();
        Frame::with_message(t, id, msg)
            .expect("encodes")
            .encode(&mut wire)
            .expect("encodes");
        FrameDecoder::new()
            .decode(&mut wire)
            .expect("decodes")
            .expect("whole frame")
    }

    fn phase_two(xid: &str, branch_id: i64) -> BranchPhaseTwoRequest {
        BranchPhaseTwoRequest {
            xid: xid.into(),
            branch_id,
            branch_type: BranchType::Tcc,
            resource_id: "seata-bench-0-a".into(),
            application_data: String::new(),
        }
    }

    /// The response went through the wire codec: its bytes decode to the expected message.
    fn wire_message(frame: &Frame) -> (MessageType, i32, Message) {
        let mut wire = BytesMut::new();
        frame.encode(&mut wire).expect("encodes");
        let f = FrameDecoder::new()
            .decode(&mut wire)
            .expect("decodes")
            .expect("whole frame");
        assert!(wire.is_empty());
        let m = f.message().expect("body decodes").expect("not a heartbeat");
        (f.message_type, f.request_id, m)
    }

    #[test]
    fn branch_commit_is_answered_with_the_same_id_and_echoed_branch() {
        let req = request(
            MessageType::Request,
            -77,
            &Message::BranchCommitRequest(phase_two("127.0.0.1:8091:42", 9001)),
        );
        let ServerRequest::Answer(resp, PhaseTwo::Commit) = answer_server_request(&req) else {
            panic!("no commit answer");
        };
        let (t, id, m) = wire_message(&resp);
        assert_eq!((t, id), (MessageType::Response, -77));
        assert_eq!(
            m,
            Message::BranchCommitResponse(BranchPhaseTwoResponse {
                result: TransactionResponse::success(),
                xid: "127.0.0.1:8091:42".into(),
                branch_id: 9001,
                branch_status: BranchStatus::PhaseTwoCommitted,
            })
        );
    }

    #[test]
    fn branch_rollback_is_answered_rollbacked() {
        let req = request(
            MessageType::Request,
            5,
            &Message::BranchRollbackRequest(phase_two("x:1:2", 3)),
        );
        let ServerRequest::Answer(resp, PhaseTwo::Rollback) = answer_server_request(&req) else {
            panic!("no rollback answer");
        };
        let (t, id, m) = wire_message(&resp);
        assert_eq!((t, id), (MessageType::Response, 5));
        let Message::BranchRollbackResponse(r) = m else {
            panic!("{m:?}");
        };
        assert_eq!(r.result.result_code, tars_seata::ResultCode::Success);
        assert_eq!((r.xid.as_str(), r.branch_id), ("x:1:2", 3));
        assert_eq!(r.branch_status, BranchStatus::PhaseTwoRollbacked);
    }

    #[test]
    fn one_way_and_unknown_requests_get_no_answer() {
        let undo = request(
            MessageType::OneWay,
            1,
            &Message::UndoLogDeleteRequest(UndoLogDeleteRequest {
                branch_type: BranchType::At,
                resource_id: "r".into(),
                save_days: 7,
            }),
        );
        assert_eq!(answer_server_request(&undo), ServerRequest::OneWay);
        // A commit sent one-way is not a request this RM answers.
        let odd = request(
            MessageType::OneWay,
            2,
            &Message::BranchCommitRequest(phase_two("x", 1)),
        );
        assert!(matches!(
            answer_server_request(&odd),
            ServerRequest::Unexpected(_)
        ));
        // A body that does not decode is reported, never a panic.
        let bad = Frame::new(MessageType::Request, 3, Bytes::from_static(&[0, 3, 0]));
        assert!(matches!(
            answer_server_request(&bad),
            ServerRequest::Unexpected(_)
        ));
    }
}
