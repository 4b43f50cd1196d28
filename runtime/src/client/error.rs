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
    /// No endpoint is available for the object. `cause` is the last locator lookup failure
    /// of the object's proxy (a failed call, or the registry listing no active instance),
    /// when it has one.
    #[error("no endpoint for {object}{}", locator_cause(.cause))]
    NoEndpoint {
        /// The object called.
        object: String,
        /// Why the locator has no endpoint for it, if it tried and failed.
        cause: Option<String>,
    },
}

impl CallError {
    /// The Tars return code this failure corresponds to.
    pub fn code(&self) -> i32 {
        match self {
            CallError::Timeout(_) => RetCode::AsyncCallTimeout.code(),
            CallError::Server { code, .. } => *code,
            CallError::Decode(_) => RetCode::ClientDecodeErr.code(),
            CallError::Transport(_) => RetCode::SendRequestErr.code(),
            CallError::NoEndpoint { .. } => RetCode::AdapterNull.code(),
        }
    }
}

fn locator_cause(cause: &Option<String>) -> String {
    match cause {
        Some(c) => format!(" (locator: {c})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::CallError;

    #[test]
    fn no_endpoint_names_the_locator_cause() {
        let plain = CallError::NoEndpoint {
            object: "A.B.C".into(),
            cause: None,
        };
        assert_eq!(plain.to_string(), "no endpoint for A.B.C");
        let located = CallError::NoEndpoint {
            object: "A.B.C".into(),
            cause: Some("transport error: refused".into()),
        };
        assert_eq!(
            located.to_string(),
            "no endpoint for A.B.C (locator: transport error: refused)"
        );
    }
}
