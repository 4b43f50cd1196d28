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
    use crate::packet::{PacketCodec, RequestPacket, ResponsePacket};
    let pkg = sign(obj, &key.access_key, &key.secret_key, unix_seconds());
    let request = RequestPacket::new(0, obj, "", pkg.encode_to_bytes(), 3000);
    let mut frame = bytes::BytesMut::new();
    // A package of a few hundred bytes is far below any frame limit.
    if let Err(e) =
        PacketCodec::<ResponsePacket, RequestPacket>::new().encode_packet(&request, &mut frame)
    {
        tracing::error!(error = %e, obj, "cannot frame the authentication package");
    }
    frame.freeze()
}

/// Seconds since the Unix epoch (the clock `iTime` is read against).
pub(crate) fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
