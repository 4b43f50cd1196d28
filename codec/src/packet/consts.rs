//! Protocol constants shared by every Tars implementation.

/// Values of `iVersion`.
pub mod version {
    /// Plain Tars: the body holds tagged parameters.
    pub const TARS: i16 = 1;
    /// TUP "complex" (v2): named, type-annotated parameters.
    pub const TUP_COMPLEX: i16 = 2;
    /// TUP "simple" (v3): named parameters (`UniAttribute`).
    pub const TUP: i16 = 3;
    /// Tars-JSON.
    pub const JSON: i16 = 5;
}

/// Values of `cPacketType`.
pub mod packet_type {
    /// A call that expects a response.
    pub const NORMAL: i8 = 0;
    /// A one-way call: no response is sent.
    pub const ONEWAY: i8 = 1;
}

/// Well-known keys of the `status` and `context` maps.
pub mod status_key {
    /// TUP responses carry the return code here.
    pub const RESULT_CODE: &str = "STATUS_RESULT_CODE";
    /// TUP responses carry the result description here.
    pub const RESULT_DESC: &str = "STATUS_RESULT_DESC";
    /// The grid/route key (filled from `routekey` parameters).
    pub const GRID_KEY: &str = "STATUS_GRID_KEY";
    /// The SET name of the caller.
    pub const SET_NAME: &str = "STATUS_SET_NAME";
}

/// The `iRet` codes of a response. Unknown negative codes map to [`RetCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum RetCode {
    /// Success.
    Ok = 0,
    /// The server could not decode the request.
    DecodeErr = -1,
    /// The server could not encode the response.
    EncodeErr = -2,
    /// No such function.
    NoFunc = -3,
    /// No such servant.
    NoServant = -4,
    /// Grid routing must be reset.
    ResetGrid = -5,
    /// The request waited in the queue past its timeout.
    QueueTimeout = -6,
    /// The call timed out.
    AsyncCallTimeout = -7,
    /// Connecting failed.
    ConnectErr = -8,
    /// The server is overloaded.
    Overload = -9,
    /// No adapter is available.
    AdapterNull = -10,
    /// The SET call is invalid.
    InvokeByInvalidEset = -11,
    /// The client could not decode the response.
    ClientDecodeErr = -12,
    /// Sending failed.
    SendRequestErr = -13,
    /// Any other server error.
    Unknown = -99,
}

impl RetCode {
    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Maps a numeric code; unknown codes become [`RetCode::Unknown`] (business codes ≥ 0
    /// other than 0 are the servant's own and also map to `Unknown` here).
    pub fn from_code(code: i32) -> RetCode {
        match code {
            0 => RetCode::Ok,
            -1 => RetCode::DecodeErr,
            -2 => RetCode::EncodeErr,
            -3 => RetCode::NoFunc,
            -4 => RetCode::NoServant,
            -5 => RetCode::ResetGrid,
            -6 => RetCode::QueueTimeout,
            -7 => RetCode::AsyncCallTimeout,
            -8 => RetCode::ConnectErr,
            -9 => RetCode::Overload,
            -10 => RetCode::AdapterNull,
            -11 => RetCode::InvokeByInvalidEset,
            -12 => RetCode::ClientDecodeErr,
            -13 => RetCode::SendRequestErr,
            _ => RetCode::Unknown,
        }
    }
}
