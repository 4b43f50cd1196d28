//! The resource managers connected to the front end, and TC → RM requests on their
//! connections.
//!
//! [`RmRegistry`] is shared (cheap to clone, thread-safe). The listener records every
//! connection that sent a RegisterRMRequest ([`RmConnection`]: application id, peer address,
//! resource ids, version) and forgets it when it closes. Phase two ([`crate::bridge`]) picks
//! the connection of a branch with [`RmRegistry::pick`] and sends a BranchCommit /
//! BranchRollback with [`RmRegistry::send_request_with`], whose callback gets the RM's
//! response (matched by request id), or an error when the connection closes or the deadline
//! passes (the listener thread expires overdue requests).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use parking_lot::{Mutex, RwLock};
use tars_seata::bytes::BytesMut;
use tars_seata::{Frame, Message, MessageType};

use crate::connection::ConnId;
use crate::listener::{Mailbox, Outbound};

/// A connection on which a resource manager registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmConnection {
    /// The connection (pass it to [`RmRegistry::send_request`]).
    pub conn: ConnId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The application id it registered with.
    pub application_id: String,
    /// Its transaction service group.
    pub transaction_service_group: String,
    /// Its version.
    pub version: String,
    /// Every resource id it registered on this connection.
    pub resource_ids: BTreeSet<String>,
}

impl RmConnection {
    /// Java's client id: `<applicationId>:<peer ip:port>` (what branches registered on this
    /// connection carry as their client id).
    pub fn client_id(&self) -> String {
        client_id(&self.application_id, self.peer)
    }
}

/// Java's client id form, `<applicationId>:<ip:port>`.
pub fn client_id(application_id: &str, peer: SocketAddr) -> String {
    format!("{application_id}:{peer}")
}

/// The application id and peer address of a Java client id, `<applicationId>:<ip:port>`: the
/// address is the first suffix after a ':' that parses as one (the application id may hold
/// ':' itself, an IPv6 peer is `[..]:port`). Without one, the whole id is the application id.
fn split_client_id(client_id: &str) -> (&str, Option<SocketAddr>) {
    client_id
        .match_indices(':')
        .find_map(|(i, _)| {
            let peer = client_id.get(i + 1..)?.parse().ok()?;
            Some((client_id.get(..i)?, Some(peer)))
        })
        .unwrap_or((client_id, None))
}

/// Encodes `message` as one frame of `kind` with `id`.
fn encode(
    kind: MessageType,
    id: i32,
    message: &Message,
) -> Result<tars_seata::bytes::Bytes, RequestError> {
    let frame =
        Frame::with_message(kind, id, message).map_err(|e| RequestError::Encode(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    frame
        .encode(&mut buf)
        .map_err(|e| RequestError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

/// Why a TC → RM request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No such connection (closed, or never an RM).
    #[error("no RM connection {0:?}")]
    NoConnection(ConnId),
    /// The connection closed before the response came.
    #[error("the RM connection closed before answering")]
    Closed,
    /// The request did not encode.
    #[error("encoding the request: {0}")]
    Encode(String),
    /// The response did not decode.
    #[error("decoding the response: {0}")]
    Decode(String),
    /// The front end stopped.
    #[error("the Seata front end stopped")]
    Stopped,
    /// The RM did not answer in time.
    #[error("the RM did not answer within {0:?}")]
    Timeout(Duration),
}

/// What gets a TC → RM request's outcome (once, on the listener thread or the caller's).
pub type ResponseCallback = Box<dyn FnOnce(Result<Message, RequestError>) + Send + 'static>;

struct Waiting {
    deadline: Instant,
    timeout: Duration,
    reply: ResponseCallback,
}

type Pending = HashMap<(ConnId, i32), Waiting>;

struct Inner {
    connections: RwLock<HashMap<ConnId, RmConnection>>,
    pending: Mutex<Pending>,
    next_id: AtomicI32,
    mailbox: Mailbox,
}

/// The registered RM connections of one front end (see the [module docs](self)).
#[derive(Clone)]
pub struct RmRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RmRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RmRegistry")
            .field("connections", &self.inner.connections.read().len())
            .field("pending", &self.inner.pending.lock().len())
            .finish()
    }
}

/// The response to a [`RmRegistry::send_request`]: resolves with the RM's message, or an
/// error when the connection closed or the request's timeout passed first.
#[derive(Debug)]
pub struct PendingResponse {
    rx: oneshot::Receiver<Result<Message, RequestError>>,
}

impl Future for PendingResponse {
    type Output = Result<Message, RequestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(RequestError::Stopped)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl RmRegistry {
    pub(crate) fn new(mailbox: Mailbox) -> RmRegistry {
        RmRegistry {
            inner: Arc::new(Inner {
                connections: RwLock::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicI32::new(1),
                mailbox,
            }),
        }
    }

    /// Every registered RM connection.
    pub fn connections(&self) -> Vec<RmConnection> {
        let mut all: Vec<RmConnection> = self.inner.connections.read().values().cloned().collect();
        all.sort_by_key(|c| c.conn);
        all
    }

    /// The RM connections that registered `resource_id`, oldest first.
    pub fn for_resource(&self, resource_id: &str) -> Vec<RmConnection> {
        let mut found: Vec<RmConnection> = self
            .inner
            .connections
            .read()
            .values()
            .filter(|c| c.resource_ids.contains(resource_id))
            .cloned()
            .collect();
        found.sort_by_key(|c| c.conn);
        found
    }

    /// The connection phase two of a branch goes to, as the Java TC picks it: the one the
    /// branch was registered from (`client_id`, `<applicationId>:<ip:port>`) when it is still
    /// open and holds `resource_id`; else another connection of the same application with
    /// that resource, one from the same IP first, oldest first. Connections of other
    /// applications are never used.
    pub fn pick(&self, resource_id: &str, client_id: &str) -> Option<RmConnection> {
        let (app, peer) = split_client_id(client_id);
        let candidates: Vec<RmConnection> = self
            .for_resource(resource_id)
            .into_iter()
            .filter(|c| c.application_id == app)
            .collect();
        let exact = candidates.iter().find(|c| Some(c.peer) == peer);
        let same_ip = candidates
            .iter()
            .find(|c| peer.is_some_and(|p| p.ip() == c.peer.ip()));
        exact.or(same_ip).or(candidates.first()).cloned()
    }

    /// One connection per registered resource id (the oldest), for requests about a resource
    /// rather than a branch (UndoLogDelete).
    pub fn one_per_resource(&self) -> Vec<(String, ConnId)> {
        let mut by_resource: std::collections::BTreeMap<String, ConnId> = Default::default();
        for c in self.connections() {
            for r in &c.resource_ids {
                by_resource.entry(r.clone()).or_insert(c.conn);
            }
        }
        by_resource.into_iter().collect()
    }

    /// The RM connection `conn`, if it is open and registered.
    pub fn get(&self, conn: ConnId) -> Option<RmConnection> {
        self.inner.connections.read().get(&conn).cloned()
    }

    /// Sends `message` as a request frame (type 0, a request id of the front end's) on the
    /// RM connection `conn`; the returned future resolves with the response carrying that id,
    /// or fails (not sent, connection closed, [`RequestError::Timeout`] after `timeout`).
    pub fn send_request(
        &self,
        conn: ConnId,
        message: &Message,
        timeout: Duration,
    ) -> PendingResponse {
        let (tx, rx) = oneshot::channel();
        self.send_request_with(
            conn,
            message,
            timeout,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        PendingResponse { rx }
    }

    /// Like [`send_request`](Self::send_request), handing the outcome to `reply` instead,
    /// which is called exactly once: with the response, or the reason there is none (at once
    /// when the request could not be sent).
    pub fn send_request_with(
        &self,
        conn: ConnId,
        message: &Message,
        timeout: Duration,
        reply: ResponseCallback,
    ) {
        if !self.inner.connections.read().contains_key(&conn) {
            return reply(Err(RequestError::NoConnection(conn)));
        }
        let id = self.next_request_id();
        let bytes = match encode(MessageType::Request, id, message) {
            Ok(bytes) => bytes,
            Err(e) => return reply(Err(e)),
        };
        self.inner.pending.lock().insert(
            (conn, id),
            Waiting {
                deadline: Instant::now() + timeout,
                timeout,
                reply,
            },
        );
        let failed = if !self.inner.mailbox.send(Outbound::Frame { conn, bytes }) {
            Some(RequestError::Stopped)
        } else if !self.inner.connections.read().contains_key(&conn) {
            // The connection closed between the check and the insert.
            Some(RequestError::Closed)
        } else {
            None
        };
        if let Some(error) = failed {
            if let Some(w) = self.inner.pending.lock().remove(&(conn, id)) {
                (w.reply)(Err(error));
            }
        }
    }

    /// Sends `message` as a one-way frame (type 2) on `conn`: nothing answers it.
    pub fn send_oneway(&self, conn: ConnId, message: &Message) -> Result<(), RequestError> {
        if !self.inner.connections.read().contains_key(&conn) {
            return Err(RequestError::NoConnection(conn));
        }
        let bytes = encode(MessageType::OneWay, self.next_request_id(), message)?;
        if self.inner.mailbox.send(Outbound::Frame { conn, bytes }) {
            Ok(())
        } else {
            Err(RequestError::Stopped)
        }
    }

    /// Fails the requests whose deadline passed; returns the earliest deadline still waiting
    /// (the listener sleeps no longer than that).
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let (overdue, next) = {
            let mut pending = self.inner.pending.lock();
            let keys: Vec<_> = pending
                .iter()
                .filter(|(_, w)| w.deadline <= now)
                .map(|(k, _)| *k)
                .collect();
            let overdue: Vec<Waiting> = keys.iter().filter_map(|k| pending.remove(k)).collect();
            (overdue, pending.values().map(|w| w.deadline).min())
        };
        for w in overdue {
            (w.reply)(Err(RequestError::Timeout(w.timeout)));
        }
        next
    }

    fn next_request_id(&self) -> i32 {
        loop {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            if id > 0 {
                return id;
            }
            // Wrapped around: start again at 1.
            let _ = self.inner.next_id.compare_exchange(
                id.wrapping_add(1),
                1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Records (or updates) an RM registration of `conn`.
    pub(crate) fn upsert(&self, connection: RmConnection) {
        self.inner
            .connections
            .write()
            .insert(connection.conn, connection);
    }

    /// Forgets `conn`; its pending requests fail with [`RequestError::Closed`].
    pub(crate) fn remove(&self, conn: ConnId) {
        self.inner.connections.write().remove(&conn);
        let failed: Vec<_> = {
            let mut pending = self.inner.pending.lock();
            let keys: Vec<_> = pending
                .keys()
                .filter(|(c, _)| *c == conn)
                .copied()
                .collect();
            keys.into_iter()
                .filter_map(|k| pending.remove(&k))
                .collect()
        };
        for w in failed {
            (w.reply)(Err(RequestError::Closed));
        }
    }

    /// A response frame from `conn`: completes the request with its id. Returns false when
    /// no request waits for it.
    pub(crate) fn complete(&self, conn: ConnId, frame: &Frame) -> bool {
        let Some(waiting) = self.inner.pending.lock().remove(&(conn, frame.request_id)) else {
            return false;
        };
        let result = match frame.message() {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(RequestError::Decode("a heartbeat as response".into())),
            Err(e) => Err(RequestError::Decode(e.to_string())),
        };
        (waiting.reply)(result);
        true
    }

    /// Fails every pending request (the front end stopped).
    pub(crate) fn clear(&self) {
        self.inner.connections.write().clear();
        let pending: Vec<_> = self.inner.pending.lock().drain().map(|(_, w)| w).collect();
        for w in pending {
            (w.reply)(Err(RequestError::Stopped));
        }
    }
}
