//! Why a call failed, as seen by the caller.

use crate::codec::DecodeError;
use crate::packet::RetCode;

/// The failure of a remote call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No response within the timeout.
    #[error("call timed out after {0} ms")]
    Timeout(u64),
    /// The server answered with a non-zero `iRet`.
    #[error("server returned {code}: {desc}")]
    Server {
        /// The `iRet` code.
        code: i32,
        /// The server's description.
        desc: String,
    },
    /// The response did not decode.
    #[error("cannot decode response: {0}")]
    Decode(#[from] DecodeError),
    /// The request could not be delivered or the connection was lost.
    #[error("transport error: {0}")]
    Transport(String),
    /// No endpoint is available for the object.
    #[error("no available endpoint for {0}")]
    NoEndpoint(String),
}

impl CallError {
    /// The Tars return code this failure corresponds to.
    pub fn code(&self) -> i32 {
        match self {
            CallError::Timeout(_) => RetCode::AsyncCallTimeout.code(),
            CallError::Server { code, .. } => *code,
            CallError::Decode(_) => RetCode::ClientDecodeErr.code(),
            CallError::Transport(_) => RetCode::SendRequestErr.code(),
            CallError::NoEndpoint(_) => RetCode::AdapterNull.code(),
        }
    }
}
