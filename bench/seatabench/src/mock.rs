//! A minimal in-memory Seata TC (`--mock`, and the tests): what the load generator needs from
//! a coordinator and nothing more, so that a run against it measures the generator alone.
//!
//! It answers RegisterTM / RegisterRM (identified), GlobalBegin (a new `127.0.0.1:<port>:<n>`
//! XID), BranchRegister (a new branch id; the branch remembers the connection it came on) and
//! GlobalCommit: TCC branches get their BranchCommit on their RM connection one after the
//! other before the answer, AT branches after it (async commit), as Java's DefaultCore does.
//! Anything else gets no answer (the bench never sends it). Every RM answer is checked (Success, the xid and
//! branch id echoed, the right status); a wrong one fails the commit and is counted. Each new
//! connection gets one PING first; the PONGs are counted. Nothing is stored on disk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars_seata::bytes::{Bytes, BytesMut};
use tars_seata::message::{
    BranchPhaseTwoRequest, BranchRegisterResponse, GlobalBeginResponse, GlobalEndResponse,
    RegisterResponse, TransactionResponse,
};
use tars_seata::{
    BranchStatus, BranchType, Frame, FrameDecoder, GlobalStatus, Message, MessageType, ResultCode,
    TransactionExceptionCode,
};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

/// The name of the mock's runtime threads (their CPU is not the generator's).
pub const THREAD_NAME: &str = "mock-tc";

/// What the mock coordinator counted.
#[derive(Debug, Default)]
pub struct MockStats {
    /// PONGs received (one PING goes to every new connection).
    pub pongs: AtomicU64,
    /// BranchCommit requests answered correctly by an RM.
    pub branch_commits: AtomicU64,
    /// Phase-two answers that were wrong (status, xid, branch id, result) or missing.
    pub bad_answers: AtomicU64,
}

/// A running mock coordinator; stopped when dropped (outside any async context).
pub struct MockTc {
    addr: SocketAddr,
    stats: Arc<MockStats>,
    _runtime: tokio::runtime::Runtime,
}

impl MockTc {
    /// Listens on a free port of 127.0.0.1, served by a runtime (one thread) of its own.
    pub fn start() -> std::io::Result<MockTc> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let stats = Arc::new(MockStats::default());
        let state = Arc::new(State {
            port: addr.port(),
            next_tx: AtomicI64::new(1),
            next_branch: AtomicI64::new(1),
            sessions: Mutex::default(),
            stats: stats.clone(),
        });
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if stream.set_nodelay(true).is_ok() {
                    tokio::spawn(serve(stream, state.clone()));
                }
            }
        });
        Ok(MockTc {
            addr,
            stats,
            _runtime: runtime,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters.
    pub fn stats(&self) -> &MockStats {
        &self.stats
    }
}

struct State {
    port: u16,
    next_tx: AtomicI64,
    next_branch: AtomicI64,
    sessions: Mutex<HashMap<String, Vec<Branch>>>,
    stats: Arc<MockStats>,
}

struct Branch {
    id: i64,
    branch_type: BranchType,
    resource_id: String,
    rm: Arc<Peer>,
}

/// The mock's side of one connection.
struct Peer {
    out: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<HashMap<i32, oneshot::Sender<Frame>>>,
    next_id: AtomicI32,
}

impl Peer {
    fn send(&self, t: MessageType, id: i32, msg: &Message) {
        let mut buf = BytesMut::new();
        if Frame::with_message(t, id, msg)
            .and_then(|f| f.encode(&mut buf))
            .is_ok()
        {
            let _ = self.out.send(buf.freeze());
        }
    }

    /// A TC → RM request and its response (None: closed or no answer within 10 s).
    async fn request(&self, msg: &Message) -> Option<Message> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        self.send(MessageType::Request, id, msg);
        let frame = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()?
            .ok()?;
        frame.message().ok().flatten()
    }
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<State>) {
    let (mut reader, writer) = stream.into_split();
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(crate::client::write_loop(writer, rx));
    let peer = Arc::new(Peer {
        out,
        pending: Mutex::default(),
        // The TC's own ids, from the top down (any int32 is valid).
        next_id: AtomicI32::new(i32::MAX / 2),
    });
    let mut ping = BytesMut::new();
    if Frame::ping(-1).encode(&mut ping).is_ok() {
        let _ = peer.out.send(ping.freeze());
    }
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'read: loop {
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            match frame.message_type {
                MessageType::Request => match frame.message() {
                    Ok(Some(msg)) => handle(&state, &peer, frame.request_id, msg),
                    _ => break 'read,
                },
                MessageType::Response => {
                    let waiter = peer
                        .pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&frame.request_id);
                    if let Some(tx) = waiter {
                        let _ = tx.send(frame);
                    }
                }
                MessageType::HeartbeatRequest => {
                    let mut pong = BytesMut::new();
                    if Frame::pong(frame.request_id).encode(&mut pong).is_ok() {
                        let _ = peer.out.send(pong.freeze());
                    }
                }
                MessageType::HeartbeatResponse => {
                    state.stats.pongs.fetch_add(1, Ordering::Relaxed);
                }
                MessageType::OneWay => {}
            }
        }
    }
}

fn end(status: GlobalStatus) -> GlobalEndResponse {
    GlobalEndResponse {
        result: TransactionResponse::success(),
        global_status: status,
    }
}

fn handle(state: &Arc<State>, peer: &Arc<Peer>, id: i32, msg: Message) {
    let answer = |m: Message| peer.send(MessageType::Response, id, &m);
    let registered = RegisterResponse {
        identified: true,
        version: "mock".into(),
    };
    match msg {
        Message::RegisterTmRequest(_) => answer(Message::RegisterTmResponse(registered)),
        Message::RegisterRmRequest(_) => answer(Message::RegisterRmResponse(registered)),
        Message::GlobalBeginRequest(_) => {
            let xid = format!(
                "127.0.0.1:{}:{}",
                state.port,
                state.next_tx.fetch_add(1, Ordering::Relaxed)
            );
            state
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(xid.clone(), Vec::new());
            answer(Message::GlobalBeginResponse(GlobalBeginResponse {
                result: TransactionResponse::success(),
                xid,
                extra_data: String::new(),
            }));
        }
        Message::BranchRegisterRequest(r) => {
            let branch_id = state.next_branch.fetch_add(1, Ordering::Relaxed);
            let known = match state
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&r.xid)
            {
                Some(branches) => {
                    branches.push(Branch {
                        id: branch_id,
                        branch_type: r.branch_type,
                        resource_id: r.resource_id,
                        rm: peer.clone(),
                    });
                    true
                }
                None => false,
            };
            answer(Message::BranchRegisterResponse(BranchRegisterResponse {
                result: if known {
                    TransactionResponse::success()
                } else {
                    TransactionResponse::failed(
                        TransactionExceptionCode::GlobalTransactionNotExist,
                        "no such transaction",
                    )
                },
                branch_id: if known { branch_id } else { 0 },
            }));
        }
        Message::GlobalCommitRequest(r) => {
            let branches = state
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&r.xid);
            let Some(branches) = branches else {
                return answer(Message::GlobalCommitResponse(end(GlobalStatus::Finished)));
            };
            let state = state.clone();
            let peer = peer.clone();
            tokio::spawn(async move {
                let synchronous = branches.iter().any(|b| b.branch_type != BranchType::At);
                if !synchronous {
                    peer.send(
                        MessageType::Response,
                        id,
                        &Message::GlobalCommitResponse(end(GlobalStatus::Committed)),
                    );
                }
                let mut all_ok = true;
                for b in &branches {
                    all_ok &= phase_two(&state, &r.xid, b).await;
                }
                if synchronous {
                    let status = if all_ok {
                        GlobalStatus::Committed
                    } else {
                        GlobalStatus::CommitFailed
                    };
                    peer.send(
                        MessageType::Response,
                        id,
                        &Message::GlobalCommitResponse(end(status)),
                    );
                }
            });
        }
        // Nothing else is needed by the bench: no answer (the client times out).
        _ => {}
    }
}

/// Sends one branch its BranchCommit and checks the answer.
async fn phase_two(state: &State, xid: &str, b: &Branch) -> bool {
    let request = Message::BranchCommitRequest(BranchPhaseTwoRequest {
        xid: xid.to_owned(),
        branch_id: b.id,
        branch_type: b.branch_type,
        resource_id: b.resource_id.clone(),
        application_data: String::new(),
    });
    let ok = match b.rm.request(&request).await {
        Some(Message::BranchCommitResponse(r)) => {
            r.result.result_code == ResultCode::Success
                && r.xid == xid
                && r.branch_id == b.id
                && r.branch_status == BranchStatus::PhaseTwoCommitted
        }
        _ => false,
    };
    let counter = if ok {
        &state.stats.branch_commits
    } else {
        &state.stats.bad_answers
    };
    counter.fetch_add(1, Ordering::Relaxed);
    ok
}
