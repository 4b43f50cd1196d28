//! The SEATA-codec message bodies: one struct per layout, the [`Message`] enum over all of
//! them, and encoding / decoding by type code.
//!
//! A body is `int16 typeCode` followed by the message's fields, all big-endian. Strings are
//! `str16` unless noted; Seata's null and `""` are the same on the wire (length 0), so they are
//! plain `String`s here, empty for null.

use bytes::BytesMut;

use crate::enums::{BranchStatus, BranchType, GlobalStatus, ResultCode, TransactionExceptionCode};
use crate::error::{Result, SeataError};
use crate::wire::{truncate_to, Reader, Writer};

/// The longest result message written; Java truncates at 32767 too.
pub const MAX_RESULT_MSG: usize = i16::MAX as usize;

/// How a message's fields go to and come from the wire (the type code excluded).
trait Fields: Sized {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()>;
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self>;
}

/// RegisterTMRequest (101): a transaction manager identifies itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterTmRequest {
    /// The client's Seata version ("1.0" from python, the release from Java, e.g. "2.2.0").
    pub version: String,
    /// The application id.
    pub application_id: String,
    /// The transaction service group.
    pub transaction_service_group: String,
    /// Extra data (free text, usually empty).
    pub extra_data: String,
}

impl Fields for RegisterTmRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.version, "version")?;
        w.str16(&self.application_id, "applicationId")?;
        w.str16(&self.transaction_service_group, "transactionServiceGroup")?;
        w.str16(&self.extra_data, "extraData")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(RegisterTmRequest {
            version: r.str16("version")?,
            application_id: r.str16("applicationId")?,
            transaction_service_group: r.str16("transactionServiceGroup")?,
            extra_data: r.str16("extraData")?,
        })
    }
}

/// RegisterRMRequest (103): a resource manager identifies itself and its resources.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterRmRequest {
    /// The client's Seata version.
    pub version: String,
    /// The application id.
    pub application_id: String,
    /// The transaction service group.
    pub transaction_service_group: String,
    /// Extra data (free text, usually empty).
    pub extra_data: String,
    /// The resource ids, comma-separated (`str32`).
    pub resource_ids: String,
}

impl Fields for RegisterRmRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.version, "version")?;
        w.str16(&self.application_id, "applicationId")?;
        w.str16(&self.transaction_service_group, "transactionServiceGroup")?;
        w.str16(&self.extra_data, "extraData")?;
        w.str32(&self.resource_ids, "resourceIds")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(RegisterRmRequest {
            version: r.str16("version")?,
            application_id: r.str16("applicationId")?,
            transaction_service_group: r.str16("transactionServiceGroup")?,
            extra_data: r.str16("extraData")?,
            resource_ids: r.str32("resourceIds")?,
        })
    }
}

/// RegisterTMResponse (102) / RegisterRMResponse (104). No result code and no message on the
/// wire, only these two fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterResponse {
    /// Whether the client was accepted (`int8` 1 / 0).
    pub identified: bool,
    /// The server's version.
    pub version: String,
}

impl Fields for RegisterResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i8(i8::from(self.identified));
        w.str16(&self.version, "version")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(RegisterResponse {
            identified: r.i8("identified")? == 1,
            version: r.str16("version")?,
        })
    }
}

/// The prefix of every transaction response: result code, message (written only when the
/// result is `Failed`) and exception code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResponse {
    /// Success or failure.
    pub result_code: ResultCode,
    /// Why it failed; on the wire only when `result_code` is `Failed` (truncated to
    /// [`MAX_RESULT_MSG`] bytes when encoded), empty otherwise.
    pub msg: String,
    /// The failure's category (`Unknown` on success).
    pub exception_code: TransactionExceptionCode,
}

impl TransactionResponse {
    /// A success.
    pub fn success() -> Self {
        TransactionResponse {
            result_code: ResultCode::Success,
            msg: String::new(),
            exception_code: TransactionExceptionCode::Unknown,
        }
    }

    /// A failure with its code and message.
    pub fn failed(exception_code: TransactionExceptionCode, msg: impl Into<String>) -> Self {
        TransactionResponse {
            result_code: ResultCode::Failed,
            msg: msg.into(),
            exception_code,
        }
    }
}

impl Default for TransactionResponse {
    fn default() -> Self {
        TransactionResponse::success()
    }
}

impl Fields for TransactionResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i8(self.result_code.code());
        if self.result_code == ResultCode::Failed {
            w.str16(truncate_to(&self.msg, MAX_RESULT_MSG), "msg")?;
        }
        w.i8(self.exception_code.code());
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        let result_code = ResultCode::from_code(r.i8("resultCode")?);
        let msg = if result_code == ResultCode::Failed {
            r.str16("msg")?
        } else {
            String::new()
        };
        Ok(TransactionResponse {
            result_code,
            msg,
            exception_code: TransactionExceptionCode::from_code(r.i8("transactionExceptionCode")?),
        })
    }
}

/// GlobalBeginRequest (1): begin a global transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalBeginRequest {
    /// Timeout in milliseconds.
    pub timeout: i32,
    /// The transaction's name.
    pub transaction_name: String,
}

impl Fields for GlobalBeginRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i32(self.timeout);
        w.str16(&self.transaction_name, "transactionName")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GlobalBeginRequest {
            timeout: r.i32("timeout")?,
            transaction_name: r.str16("transactionName")?,
        })
    }
}

/// GlobalBeginResponse (2): the new transaction's xid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalBeginResponse {
    /// Result, message and exception code.
    pub result: TransactionResponse,
    /// The new global transaction id.
    pub xid: String,
    /// Extra data.
    pub extra_data: String,
}

impl Fields for GlobalBeginResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        self.result.encode_fields(w)?;
        w.str16(&self.xid, "xid")?;
        w.str16(&self.extra_data, "extraData")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GlobalBeginResponse {
            result: TransactionResponse::decode_fields(r)?,
            xid: r.str16("xid")?,
            extra_data: r.str16("extraData")?,
        })
    }
}

/// GlobalCommitRequest (7), GlobalRollbackRequest (9) and GlobalStatusRequest (15): a request
/// naming a global transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalXidRequest {
    /// The global transaction id.
    pub xid: String,
    /// Extra data.
    pub extra_data: String,
}

impl Fields for GlobalXidRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.xid, "xid")?;
        w.str16(&self.extra_data, "extraData")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GlobalXidRequest {
            xid: r.str16("xid")?,
            extra_data: r.str16("extraData")?,
        })
    }
}

/// GlobalReportRequest (17): a client reports a global transaction's status (SAGA).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalReportRequest {
    /// The global transaction id.
    pub xid: String,
    /// Extra data.
    pub extra_data: String,
    /// The reported status; `None` is -1 on the wire.
    pub global_status: Option<GlobalStatus>,
}

impl Fields for GlobalReportRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.xid, "xid")?;
        w.str16(&self.extra_data, "extraData")?;
        w.i8(self.global_status.map_or(-1, GlobalStatus::code));
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        let xid = r.str16("xid")?;
        let extra_data = r.str16("extraData")?;
        let global_status = match r.i8("globalStatus")? {
            -1 => None,
            code => Some(GlobalStatus::from_code(code)),
        };
        Ok(GlobalReportRequest {
            xid,
            extra_data,
            global_status,
        })
    }
}

/// GlobalCommitResponse (8), GlobalRollbackResponse (10), GlobalStatusResponse (16) and
/// GlobalReportResponse (18): a result and the transaction's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalEndResponse {
    /// Result, message and exception code.
    pub result: TransactionResponse,
    /// The global transaction's status.
    pub global_status: GlobalStatus,
}

impl Fields for GlobalEndResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        self.result.encode_fields(w)?;
        w.i8(self.global_status.code());
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GlobalEndResponse {
            result: TransactionResponse::decode_fields(r)?,
            global_status: GlobalStatus::from_code(r.i8("globalStatus")?),
        })
    }
}

/// BranchRegisterRequest (11) and GlobalLockQueryRequest (21): a branch (or a lock check) in a
/// global transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchRegisterRequest {
    /// The global transaction id.
    pub xid: String,
    /// The branch's mode.
    pub branch_type: BranchType,
    /// The resource (data source) id.
    pub resource_id: String,
    /// AT lock keys, `table:pk1,pk2;table2:pk3` (`str32`).
    pub lock_key: String,
    /// Application data (`str32`).
    pub application_data: String,
}

/// GlobalLockQueryRequest (21) has the layout of [`BranchRegisterRequest`].
pub type GlobalLockQueryRequest = BranchRegisterRequest;

impl Fields for BranchRegisterRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.xid, "xid")?;
        w.i8(self.branch_type.code());
        w.str16(&self.resource_id, "resourceId")?;
        w.str32(&self.lock_key, "lockKey")?;
        w.str32(&self.application_data, "applicationData")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BranchRegisterRequest {
            xid: r.str16("xid")?,
            branch_type: BranchType::from_code(r.i8("branchType")?),
            resource_id: r.str16("resourceId")?,
            lock_key: r.str32("lockKey")?,
            application_data: r.str32("applicationData")?,
        })
    }
}

/// BranchRegisterResponse (12): the new branch's id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BranchRegisterResponse {
    /// Result, message and exception code.
    pub result: TransactionResponse,
    /// The branch id.
    pub branch_id: i64,
}

impl Fields for BranchRegisterResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        self.result.encode_fields(w)?;
        w.i64(self.branch_id);
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BranchRegisterResponse {
            result: TransactionResponse::decode_fields(r)?,
            branch_id: r.i64("branchId")?,
        })
    }
}

/// GlobalLockQueryResponse (22): whether the keys could be locked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalLockQueryResponse {
    /// Result, message and exception code.
    pub result: TransactionResponse,
    /// An `int16` on the wire: 1 true, anything else false.
    pub lockable: bool,
}

impl Fields for GlobalLockQueryResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        self.result.encode_fields(w)?;
        w.i16(i16::from(self.lockable));
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GlobalLockQueryResponse {
            result: TransactionResponse::decode_fields(r)?,
            lockable: r.i16("lockable")? == 1,
        })
    }
}

/// BranchReportRequest (13): a resource manager reports a branch's status. The branch type
/// comes last on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchReportRequest {
    /// The global transaction id.
    pub xid: String,
    /// The branch id.
    pub branch_id: i64,
    /// The reported status.
    pub status: BranchStatus,
    /// The resource id.
    pub resource_id: String,
    /// Application data (`str32`).
    pub application_data: String,
    /// The branch's mode.
    pub branch_type: BranchType,
}

impl Fields for BranchReportRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.xid, "xid")?;
        w.i64(self.branch_id);
        w.i8(self.status.code());
        w.str16(&self.resource_id, "resourceId")?;
        w.str32(&self.application_data, "applicationData")?;
        w.i8(self.branch_type.code());
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BranchReportRequest {
            xid: r.str16("xid")?,
            branch_id: r.i64("branchId")?,
            status: BranchStatus::from_code(r.i8("branchStatus")?),
            resource_id: r.str16("resourceId")?,
            application_data: r.str32("applicationData")?,
            branch_type: BranchType::from_code(r.i8("branchType")?),
        })
    }
}

/// BranchCommitRequest (3) and BranchRollbackRequest (5): the coordinator asks a resource
/// manager to finish a branch. Java's decoder stops early when `xid` or `resource_id` is
/// empty, so always fill them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPhaseTwoRequest {
    /// The global transaction id.
    pub xid: String,
    /// The branch id.
    pub branch_id: i64,
    /// The branch's mode.
    pub branch_type: BranchType,
    /// The resource id.
    pub resource_id: String,
    /// The branch's application data (`str32`).
    pub application_data: String,
}

impl Fields for BranchPhaseTwoRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.str16(&self.xid, "xid")?;
        w.i64(self.branch_id);
        w.i8(self.branch_type.code());
        w.str16(&self.resource_id, "resourceId")?;
        w.str32(&self.application_data, "applicationData")
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BranchPhaseTwoRequest {
            xid: r.str16("xid")?,
            branch_id: r.i64("branchId")?,
            branch_type: BranchType::from_code(r.i8("branchType")?),
            resource_id: r.str16("resourceId")?,
            application_data: r.str32("applicationData")?,
        })
    }
}

/// BranchCommitResponse (4) and BranchRollbackResponse (6): the branch's status after phase
/// two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchPhaseTwoResponse {
    /// Result, message and exception code.
    pub result: TransactionResponse,
    /// The global transaction id.
    pub xid: String,
    /// The branch id.
    pub branch_id: i64,
    /// The branch's status (5 committed / 8 rolled back expected).
    pub branch_status: BranchStatus,
}

impl Fields for BranchPhaseTwoResponse {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        self.result.encode_fields(w)?;
        w.str16(&self.xid, "xid")?;
        w.i64(self.branch_id);
        w.i8(self.branch_status.code());
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(BranchPhaseTwoResponse {
            result: TransactionResponse::decode_fields(r)?,
            xid: r.str16("xid")?,
            branch_id: r.i64("branchId")?,
            branch_status: BranchStatus::from_code(r.i8("branchStatus")?),
        })
    }
}

/// UndoLogDeleteRequest (111, one-way): the coordinator asks an AT resource manager to purge
/// old undo logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoLogDeleteRequest {
    /// The branch mode (AT).
    pub branch_type: BranchType,
    /// The resource id.
    pub resource_id: String,
    /// Keep undo logs this many days.
    pub save_days: i16,
}

impl Fields for UndoLogDeleteRequest {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i8(self.branch_type.code());
        w.str16(&self.resource_id, "resourceId")?;
        w.i16(self.save_days);
        Ok(())
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        Ok(UndoLogDeleteRequest {
            branch_type: BranchType::from_code(r.i8("branchType")?),
            resource_id: r.str16("resourceId")?,
            save_days: r.i16("saveDays")?,
        })
    }
}

/// MergedWarpMessage (59): several requests in one frame.
///
/// Java clients >= 1.5 append one `int32` message id per request; python, go and older Java
/// do not. Both decode; `msg_ids` is empty when absent and is written only when non-empty (it
/// must then have one id per message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergedWarpMessage {
    /// The requests, in order. Batches cannot nest.
    pub msgs: Vec<Message>,
    /// One id per request, or empty.
    pub msg_ids: Vec<i32>,
}

/// MergeResultMessage (60): the results of a [`MergedWarpMessage`], in request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeResultMessage {
    /// The results, in request order. Batches cannot nest.
    pub msgs: Vec<Message>,
}

/// BatchResultMessage (121, Java >= 1.5 clients only): results with the ids of their requests.
/// Never send it to python or to clients registered with a version below 1.5.0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchResultMessage {
    /// The results. Batches cannot nest.
    pub msgs: Vec<Message>,
    /// One request id per result (always on the wire).
    pub msg_ids: Vec<i32>,
}

/// Writes `int32 len, int16 n, n × (typeCode, fields), ids` with `len` counting from `n`.
fn encode_batch(w: &mut Writer<'_>, msgs: &[Message], ids: &[i32]) -> Result<()> {
    let n = i16::try_from(msgs.len()).map_err(|_| SeataError::TooLong {
        what: "batch message count",
        len: msgs.len(),
        max: i16::MAX as usize,
    })?;
    if !ids.is_empty() && ids.len() != msgs.len() {
        return Err(SeataError::MsgIdCount {
            expected: msgs.len(),
            found: ids.len(),
        });
    }
    let at = w.len();
    w.i32(0);
    w.i16(n);
    for msg in msgs {
        if msg.is_batch() {
            return Err(SeataError::NestedBatch(msg.type_code()));
        }
        msg.encode_to(w)?;
    }
    for id in ids {
        w.i32(*id);
    }
    let len = w.len() - at - 4;
    let len = i32::try_from(len).map_err(|_| SeataError::TooLong {
        what: "batch",
        len,
        max: i32::MAX as usize,
    })?;
    w.patch_i32(at, len);
    Ok(())
}

/// Reads a batch; `ids_required` says whether trailing ids must be there (batch result) or
/// may be (merged request). Returns the messages and the ids (empty when absent).
fn decode_batch(r: &mut Reader<'_>, ids_required: bool) -> Result<(Vec<Message>, Vec<i32>)> {
    let len = r.i32("batch length")?;
    let len = usize::try_from(len).map_err(|_| SeataError::BadLength {
        what: "batch length",
        len: i64::from(len),
    })?;
    let mut sub = Reader::new(r.take(len, "batch")?);
    let n = sub.i16("batch message count")?;
    let n = usize::try_from(n).map_err(|_| SeataError::BadLength {
        what: "batch message count",
        len: i64::from(n),
    })?;
    // No capacity from `n`: the vectors grow with what is actually there.
    let mut msgs = Vec::new();
    for _ in 0..n {
        msgs.push(Message::decode_from(&mut sub, false)?);
    }
    let mut ids = Vec::new();
    let rest = sub.remaining();
    if rest > 0 || ids_required {
        if rest % 4 != 0 {
            return Err(SeataError::TrailingBytes {
                what: "batch messages",
                count: rest,
            });
        }
        if rest / 4 != n {
            return Err(SeataError::MsgIdCount {
                expected: n,
                found: rest / 4,
            });
        }
        for _ in 0..n {
            ids.push(sub.i32("msgId")?);
        }
    }
    Ok((msgs, ids))
}

impl Fields for MergedWarpMessage {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        encode_batch(w, &self.msgs, &self.msg_ids)
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        let (msgs, msg_ids) = decode_batch(r, false)?;
        Ok(MergedWarpMessage { msgs, msg_ids })
    }
}

impl Fields for MergeResultMessage {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        encode_batch(w, &self.msgs, &[])
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        let (msgs, ids) = decode_batch(r, false)?;
        if !ids.is_empty() {
            return Err(SeataError::TrailingBytes {
                what: "merge result messages",
                count: ids.len() * 4,
            });
        }
        Ok(MergeResultMessage { msgs })
    }
}

impl Fields for BatchResultMessage {
    fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
        if self.msg_ids.len() != self.msgs.len() {
            return Err(SeataError::MsgIdCount {
                expected: self.msgs.len(),
                found: self.msg_ids.len(),
            });
        }
        encode_batch(w, &self.msgs, &self.msg_ids)
    }

    fn decode_fields(r: &mut Reader<'_>) -> Result<Self> {
        let (msgs, msg_ids) = decode_batch(r, true)?;
        Ok(BatchResultMessage { msgs, msg_ids })
    }
}

macro_rules! messages {
    ( $( $(#[$doc:meta])* $variant:ident($ty:ty) = $code:literal, )* ) => {
        /// Every message of the SEATA codec, by type code.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$doc])* $variant($ty), )*
        }

        /// The type codes of [`Message`]'s variants.
        pub mod type_code {
            $(
                #[doc = concat!("Type code of `", stringify!($variant), "`.")]
                #[allow(non_upper_case_globals)]
                pub const $variant: i16 = $code;
            )*
        }

        impl Message {
            /// The body's `int16` type code.
            pub fn type_code(&self) -> i16 {
                match self {
                    $( Message::$variant(_) => $code, )*
                }
            }

            fn encode_fields(&self, w: &mut Writer<'_>) -> Result<()> {
                match self {
                    $( Message::$variant(m) => m.encode_fields(w), )*
                }
            }

            fn decode_fields(code: i16, r: &mut Reader<'_>) -> Result<Message> {
                match code {
                    $( $code => <$ty as Fields>::decode_fields(r).map(Message::$variant), )*
                    other => Err(SeataError::UnknownTypeCode(other)),
                }
            }
        }
    };
}

messages! {
    /// 1, TM → TC.
    GlobalBeginRequest(GlobalBeginRequest) = 1,
    /// 2.
    GlobalBeginResponse(GlobalBeginResponse) = 2,
    /// 3, TC → RM.
    BranchCommitRequest(BranchPhaseTwoRequest) = 3,
    /// 4, RM → TC.
    BranchCommitResponse(BranchPhaseTwoResponse) = 4,
    /// 5, TC → RM.
    BranchRollbackRequest(BranchPhaseTwoRequest) = 5,
    /// 6, RM → TC.
    BranchRollbackResponse(BranchPhaseTwoResponse) = 6,
    /// 7, TM → TC.
    GlobalCommitRequest(GlobalXidRequest) = 7,
    /// 8.
    GlobalCommitResponse(GlobalEndResponse) = 8,
    /// 9, TM → TC.
    GlobalRollbackRequest(GlobalXidRequest) = 9,
    /// 10.
    GlobalRollbackResponse(GlobalEndResponse) = 10,
    /// 11, RM → TC.
    BranchRegisterRequest(BranchRegisterRequest) = 11,
    /// 12.
    BranchRegisterResponse(BranchRegisterResponse) = 12,
    /// 13, RM → TC.
    BranchReportRequest(BranchReportRequest) = 13,
    /// 14.
    BranchReportResponse(TransactionResponse) = 14,
    /// 15, TM → TC.
    GlobalStatusRequest(GlobalXidRequest) = 15,
    /// 16.
    GlobalStatusResponse(GlobalEndResponse) = 16,
    /// 17, TM → TC.
    GlobalReportRequest(GlobalReportRequest) = 17,
    /// 18.
    GlobalReportResponse(GlobalEndResponse) = 18,
    /// 21, RM → TC.
    GlobalLockQueryRequest(GlobalLockQueryRequest) = 21,
    /// 22.
    GlobalLockQueryResponse(GlobalLockQueryResponse) = 22,
    /// 59, client → TC.
    MergedWarpMessage(MergedWarpMessage) = 59,
    /// 60, TC → client.
    MergeResultMessage(MergeResultMessage) = 60,
    /// 101.
    RegisterTmRequest(RegisterTmRequest) = 101,
    /// 102.
    RegisterTmResponse(RegisterResponse) = 102,
    /// 103.
    RegisterRmRequest(RegisterRmRequest) = 103,
    /// 104.
    RegisterRmResponse(RegisterResponse) = 104,
    /// 111, TC → RM one-way.
    UndoLogDeleteRequest(UndoLogDeleteRequest) = 111,
    /// 121, TC → Java client >= 1.5 only.
    BatchResultMessage(BatchResultMessage) = 121,
}

impl Message {
    /// Whether this is a batch (merged, merge-result or batch-result message).
    pub fn is_batch(&self) -> bool {
        matches!(
            self,
            Message::MergedWarpMessage(_)
                | Message::MergeResultMessage(_)
                | Message::BatchResultMessage(_)
        )
    }

    /// Appends the body (type code and fields) to `dst`. Fails only on values the wire cannot
    /// carry (a `str16` over 32767 bytes, a nested batch, message ids not matching a batch).
    /// On failure `dst` may hold a partial body.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<()> {
        self.encode_to(&mut Writer::new(dst))
    }

    /// The body as a fresh buffer.
    pub fn to_bytes(&self) -> Result<BytesMut> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst)
    }

    fn encode_to(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i16(self.type_code());
        self.encode_fields(w)
    }

    /// Decodes a whole body; bytes left after the message are an error.
    pub fn decode(body: &[u8]) -> Result<Message> {
        let mut r = Reader::new(body);
        let msg = Message::decode_from(&mut r, true)?;
        r.finish("message body")?;
        Ok(msg)
    }

    fn decode_from(r: &mut Reader<'_>, batch_allowed: bool) -> Result<Message> {
        let code = r.i16("type code")?;
        if !batch_allowed
            && matches!(
                code,
                type_code::MergedWarpMessage
                    | type_code::MergeResultMessage
                    | type_code::BatchResultMessage
            )
        {
            return Err(SeataError::NestedBatch(code));
        }
        Message::decode_fields(code, r)
    }
}
