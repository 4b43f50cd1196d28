//! Authentication of connections. [`local`]: TarsCpp's local authentication (endpoint
//! option `-e 1`), on the server side; [`tea`]: the cipher it signs with.

pub mod local;
pub mod tea;

pub use local::{sign, verify, AuthState, BasicAuthPackage};

/// The key a client authenticates with to endpoints that say `-e 1`
/// ([`Communicator::with_auth_key`](crate::client::Communicator::with_auth_key)).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    /// The access key.
    pub access_key: String,
    /// The secret key (never printed).
    pub secret_key: String,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// The first frame a client sends on a connection to `obj` behind an endpoint with `-e 1`:
/// a request (id 0, which no call uses) whose buffer is the signed package.
pub fn request_frame(obj: &str, key: &ClientKey) -> bytes::Bytes {
    use crate::codec::TarsStruct;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let pkg = sign(obj, &key.access_key, &key.secret_key, now);
    let request = crate::packet::RequestPacket::new(0, obj, "", pkg.encode_to_bytes(), 3000);
    let body = request.encode_to_bytes();
    let mut frame = bytes::BytesMut::with_capacity(4 + body.len());
    frame.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame.freeze()
}
