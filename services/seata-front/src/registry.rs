//! The resource managers connected to the front end, and TC → RM requests on their
//! connections.
//!
//! [`RmRegistry`] is shared (cheap to clone, thread-safe). The listener records every
//! connection that sent a RegisterRMRequest ([`RmConnection`]: application id, peer address,
//! resource ids, version) and forgets it when it closes. A later phase-two piece finds the
//! connections of a branch's resource with [`RmRegistry::for_resource`] and sends a
//! BranchCommit / BranchRollback with [`RmRegistry::send_request`], whose future resolves with
//! the RM's response (matched by request id) or fails when the connection closes.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

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
}

type Pending = HashMap<(ConnId, i32), oneshot::Sender<Result<Message, RequestError>>>;

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
/// error when the connection closed first. It has no timeout of its own: the caller bounds
/// the wait (a dropped future is forgotten when its response comes or the connection closes).
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

    /// The RM connection `conn`, if it is open and registered.
    pub fn get(&self, conn: ConnId) -> Option<RmConnection> {
        self.inner.connections.read().get(&conn).cloned()
    }

    /// Sends `message` as a request frame (type 0, a request id of the front end's) on the
    /// RM connection `conn`; the returned future resolves with the response carrying that id.
    pub fn send_request(
        &self,
        conn: ConnId,
        message: &Message,
    ) -> Result<PendingResponse, RequestError> {
        if !self.inner.connections.read().contains_key(&conn) {
            return Err(RequestError::NoConnection(conn));
        }
        let id = self.next_request_id();
        let frame = Frame::with_message(MessageType::Request, id, message)
            .map_err(|e| RequestError::Encode(e.to_string()))?;
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        frame
            .encode(&mut buf)
            .map_err(|e| RequestError::Encode(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().insert((conn, id), tx);
        if !self.inner.mailbox.send(Outbound::Frame {
            conn,
            bytes: buf.freeze(),
        }) {
            self.inner.pending.lock().remove(&(conn, id));
            return Err(RequestError::Stopped);
        }
        // The connection may have closed between the check and the insert.
        if !self.inner.connections.read().contains_key(&conn) {
            if let Some(tx) = self.inner.pending.lock().remove(&(conn, id)) {
                let _ = tx.send(Err(RequestError::Closed));
            }
        }
        Ok(PendingResponse { rx })
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
        for tx in failed {
            let _ = tx.send(Err(RequestError::Closed));
        }
    }

    /// A response frame from `conn`: completes the request with its id. Returns false when
    /// no request waits for it.
    pub(crate) fn complete(&self, conn: ConnId, frame: &Frame) -> bool {
        let Some(tx) = self.inner.pending.lock().remove(&(conn, frame.request_id)) else {
            return false;
        };
        let result = match frame.message() {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(RequestError::Decode("a heartbeat as response".into())),
            Err(e) => Err(RequestError::Decode(e.to_string())),
        };
        let _ = tx.send(result);
        true
    }

    /// Fails every pending request (the front end stopped).
    pub(crate) fn clear(&self) {
        self.inner.connections.write().clear();
        let pending: Vec<_> = self
            .inner
            .pending
            .lock()
            .drain()
            .map(|(_, tx)| tx)
            .collect();
        for tx in pending {
            let _ = tx.send(Err(RequestError::Stopped));
        }
    }
}
