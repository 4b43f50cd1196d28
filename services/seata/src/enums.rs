//! The enums carried as `int8` codes in message bodies.
//!
//! Each keeps values it does not know in an `Other(i8)` variant, so a peer newer than this
//! crate (or older, with fewer values) never makes a message undecodable. Build values from the
//! wire with `from_code`, which never yields `Other` for a known code.

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code this crate does not know, kept as read.
            Other(i8),
        }

        impl $name {
            /// Every known value, in code order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The value for a wire code; unknown codes become `Other`.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $( $code => $name::$variant, )*
                    other => $name::Other(other),
                }
            }

            /// The wire code.
            pub fn code(self) -> i8 {
                match self {
                    $( $name::$variant => $code, )*
                    $name::Other(code) => code,
                }
            }
        }

        impl From<i8> for $name {
            fn from(code: i8) -> Self {
                $name::from_code(code)
            }
        }

        impl From<$name> for i8 {
            fn from(v: $name) -> i8 {
                v.code()
            }
        }
    };
}

wire_enum! {
    /// A response's result (`ResultMessage.resultCode`).
    ResultCode {
        /// 0: the request failed; a message follows on the wire.
        Failed = 0,
        /// 1: the request succeeded.
        Success = 1,
    }
}

wire_enum! {
    /// Why a transaction request failed (`TransactionExceptionCode`, by ordinal).
    TransactionExceptionCode {
        /// 0
        Unknown = 0,
        /// 1
        BeginFailed = 1,
        /// 2: an AT row lock is held by another global transaction.
        LockKeyConflict = 2,
        /// 3
        Io = 3,
        /// 4
        BranchRollbackFailedRetriable = 4,
        /// 5
        BranchRollbackFailedUnretriable = 5,
        /// 6
        BranchRegisterFailed = 6,
        /// 7
        BranchReportFailed = 7,
        /// 8
        LockableCheckFailed = 8,
        /// 9
        BranchTransactionNotExist = 9,
        /// 10
        GlobalTransactionNotExist = 10,
        /// 11
        GlobalTransactionNotActive = 11,
        /// 12
        GlobalTransactionStatusInvalid = 12,
        /// 13
        FailedToSendBranchCommitRequest = 13,
        /// 14
        FailedToSendBranchRollbackRequest = 14,
        /// 15
        FailedToAddBranch = 15,
        /// 16
        FailedLockGlobalTransaction = 16,
        /// 17
        FailedWriteSession = 17,
        /// 18
        FailedStore = 18,
        /// 19 (unknown to seata-python, which knows 0..=18)
        NotRaftLeader = 19,
        /// 20 (unknown to seata-python)
        LockKeyConflictFailFast = 20,
        /// 21 (unknown to seata-python)
        TransactionTimeout = 21,
        /// 22 (unknown to seata-python)
        CommitHeuristic = 22,
        /// 23 (unknown to seata-python)
        Broken = 23,
    }
}

wire_enum! {
    /// A global transaction's status (`GlobalStatus` code).
    GlobalStatus {
        /// 0
        UnKnown = 0,
        /// 1
        Begin = 1,
        /// 2
        Committing = 2,
        /// 3
        CommitRetrying = 3,
        /// 4
        Rollbacking = 4,
        /// 5
        RollbackRetrying = 5,
        /// 6
        TimeoutRollbacking = 6,
        /// 7
        TimeoutRollbackRetrying = 7,
        /// 8
        AsyncCommitting = 8,
        /// 9
        Committed = 9,
        /// 10
        CommitFailed = 10,
        /// 11
        Rollbacked = 11,
        /// 12
        RollbackFailed = 12,
        /// 13
        TimeoutRollbacked = 13,
        /// 14
        TimeoutRollbackFailed = 14,
        /// 15
        Finished = 15,
        /// 16 (unknown to seata-python, which knows 0..=15)
        CommitRetryTimeout = 16,
        /// 17 (unknown to seata-python)
        RollbackRetryTimeout = 17,
    }
}

wire_enum! {
    /// A branch transaction's status (`BranchStatus` code).
    BranchStatus {
        /// 0
        Unknown = 0,
        /// 1
        Registered = 1,
        /// 2
        PhaseOneDone = 2,
        /// 3
        PhaseOneFailed = 3,
        /// 4
        PhaseOneTimeout = 4,
        /// 5: the expected answer to a branch commit.
        PhaseTwoCommitted = 5,
        /// 6
        PhaseTwoCommitFailedRetryable = 6,
        /// 7
        PhaseTwoCommitFailedUnretryable = 7,
        /// 8: the expected answer to a branch rollback.
        PhaseTwoRollbacked = 8,
        /// 9
        PhaseTwoRollbackFailedRetryable = 9,
        /// 10
        PhaseTwoRollbackFailedUnretryable = 10,
        /// 11 (unknown to seata-python, which knows 0..=10)
        PhaseTwoCommitFailedXaerNotaRetryable = 11,
        /// 12 (unknown to seata-python)
        PhaseTwoRollbackFailedXaerNotaRetryable = 12,
        /// 13 (unknown to seata-python)
        PhaseOneRdonly = 13,
    }
}

wire_enum! {
    /// A branch's transaction mode (`BranchType`, by ordinal).
    BranchType {
        /// 0: automatic (undo log) mode.
        At = 0,
        /// 1: try-confirm-cancel.
        Tcc = 1,
        /// 2
        Saga = 2,
        /// 3
        Xa = 3,
    }
}
