//! Property: every message encodes and decodes back to itself, alone, in a batch and in a
//! frame; and arbitrary bodies never panic the decoder.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tars_seata::message::*;
use tars_seata::{
    BranchStatus, BranchType, Frame, FrameDecoder, GlobalStatus, Message, MessageType, ResultCode,
    TransactionExceptionCode,
};

fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

fn branch_type() -> impl Strategy<Value = BranchType> {
    any::<i8>().prop_map(BranchType::from_code)
}

fn branch_status() -> impl Strategy<Value = BranchStatus> {
    any::<i8>().prop_map(BranchStatus::from_code)
}

fn global_status() -> impl Strategy<Value = GlobalStatus> {
    any::<i8>().prop_map(GlobalStatus::from_code)
}

fn result() -> impl Strategy<Value = TransactionResponse> {
    (any::<i8>(), text(), any::<i8>()).prop_map(|(code, msg, exc)| {
        let result_code = ResultCode::from_code(code);
        TransactionResponse {
            // Only a failure carries its message on the wire.
            msg: if result_code == ResultCode::Failed {
                msg
            } else {
                String::new()
            },
            result_code,
            exception_code: TransactionExceptionCode::from_code(exc),
        }
    })
}

fn xid_request() -> impl Strategy<Value = GlobalXidRequest> {
    (text(), text()).prop_map(|(xid, extra_data)| GlobalXidRequest { xid, extra_data })
}

fn end_response() -> impl Strategy<Value = GlobalEndResponse> {
    (result(), global_status()).prop_map(|(result, global_status)| GlobalEndResponse {
        result,
        global_status,
    })
}

fn register_request() -> impl Strategy<Value = BranchRegisterRequest> {
    (text(), branch_type(), text(), text(), text()).prop_map(|(xid, t, r, l, a)| {
        BranchRegisterRequest {
            xid,
            branch_type: t,
            resource_id: r,
            lock_key: l,
            application_data: a,
        }
    })
}

fn phase_two_request() -> impl Strategy<Value = BranchPhaseTwoRequest> {
    (text(), any::<i64>(), branch_type(), text(), text()).prop_map(|(xid, id, t, r, a)| {
        BranchPhaseTwoRequest {
            xid,
            branch_id: id,
            branch_type: t,
            resource_id: r,
            application_data: a,
        }
    })
}

fn phase_two_response() -> impl Strategy<Value = BranchPhaseTwoResponse> {
    (result(), text(), any::<i64>(), branch_status()).prop_map(|(result, xid, id, s)| {
        BranchPhaseTwoResponse {
            result,
            xid,
            branch_id: id,
            branch_status: s,
        }
    })
}

fn register_response() -> impl Strategy<Value = RegisterResponse> {
    (any::<bool>(), text()).prop_map(|(identified, version)| RegisterResponse {
        identified,
        version,
    })
}

/// Any message but a batch.
fn single() -> BoxedStrategy<Message> {
    use Message as M;
    prop_oneof![
        (any::<i32>(), text()).prop_map(|(timeout, transaction_name)| {
            M::GlobalBeginRequest(GlobalBeginRequest {
                timeout,
                transaction_name,
            })
        }),
        (result(), text(), text()).prop_map(|(result, xid, extra_data)| {
            M::GlobalBeginResponse(GlobalBeginResponse {
                result,
                xid,
                extra_data,
            })
        }),
        phase_two_request().prop_map(M::BranchCommitRequest),
        phase_two_response().prop_map(M::BranchCommitResponse),
        phase_two_request().prop_map(M::BranchRollbackRequest),
        phase_two_response().prop_map(M::BranchRollbackResponse),
        xid_request().prop_map(M::GlobalCommitRequest),
        end_response().prop_map(M::GlobalCommitResponse),
        xid_request().prop_map(M::GlobalRollbackRequest),
        end_response().prop_map(M::GlobalRollbackResponse),
        register_request().prop_map(M::BranchRegisterRequest),
        (result(), any::<i64>()).prop_map(|(result, branch_id)| {
            M::BranchRegisterResponse(BranchRegisterResponse { result, branch_id })
        }),
        (
            text(),
            any::<i64>(),
            branch_status(),
            text(),
            text(),
            branch_type()
        )
            .prop_map(
                |(xid, branch_id, status, resource_id, application_data, t)| {
                    M::BranchReportRequest(BranchReportRequest {
                        xid,
                        branch_id,
                        status,
                        resource_id,
                        application_data,
                        branch_type: t,
                    })
                }
            ),
        result().prop_map(M::BranchReportResponse),
        xid_request().prop_map(M::GlobalStatusRequest),
        end_response().prop_map(M::GlobalStatusResponse),
        (text(), text(), proptest::option::of(global_status())).prop_map(|(xid, extra_data, s)| {
            // -1 on the wire is null, so Other(-1) is not representable.
            let global_status = s.filter(|s| s.code() != -1);
            M::GlobalReportRequest(GlobalReportRequest {
                xid,
                extra_data,
                global_status,
            })
        }),
        end_response().prop_map(M::GlobalReportResponse),
        register_request().prop_map(M::GlobalLockQueryRequest),
        (result(), any::<bool>()).prop_map(|(result, lockable)| {
            M::GlobalLockQueryResponse(GlobalLockQueryResponse { result, lockable })
        }),
        (text(), text(), text(), text()).prop_map(|(v, a, g, e)| {
            M::RegisterTmRequest(RegisterTmRequest {
                version: v,
                application_id: a,
                transaction_service_group: g,
                extra_data: e,
            })
        }),
        register_response().prop_map(M::RegisterTmResponse),
        (text(), text(), text(), text(), text()).prop_map(|(v, a, g, e, r)| {
            M::RegisterRmRequest(RegisterRmRequest {
                version: v,
                application_id: a,
                transaction_service_group: g,
                extra_data: e,
                resource_ids: r,
            })
        }),
        register_response().prop_map(M::RegisterRmResponse),
        (branch_type(), text(), any::<i16>()).prop_map(|(t, r, d)| {
            M::UndoLogDeleteRequest(UndoLogDeleteRequest {
                branch_type: t,
                resource_id: r,
                save_days: d,
            })
        }),
    ]
    .boxed()
}

/// Any message, batches of singles included.
fn message() -> impl Strategy<Value = Message> {
    let batch = proptest::collection::vec(single(), 0..6);
    prop_oneof![
        4 => single(),
        1 => (batch.clone(), any::<bool>(), any::<i32>()).prop_map(|(msgs, ids, base)| {
            let msg_ids = if ids {
                (0..msgs.len() as i32).map(|i| base.wrapping_add(i)).collect()
            } else {
                Vec::new()
            };
            Message::MergedWarpMessage(MergedWarpMessage { msgs, msg_ids })
        }),
        1 => batch.clone().prop_map(|msgs| Message::MergeResultMessage(MergeResultMessage { msgs })),
        1 => (batch, any::<i32>()).prop_map(|(msgs, base)| {
            let msg_ids = (0..msgs.len() as i32).map(|i| base.wrapping_sub(i)).collect();
            Message::BatchResultMessage(BatchResultMessage { msgs, msg_ids })
        }),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(msg in message()) {
        let bytes = msg.to_bytes().unwrap();
        prop_assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), msg.type_code());
        prop_assert_eq!(Message::decode(&bytes).unwrap(), msg.clone());
        // Every strict prefix is an error.
        for len in 0..bytes.len() {
            prop_assert!(Message::decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn messages_round_trip_in_frames(msgs in proptest::collection::vec(message(), 1..5),
                                     chunk in 1usize..40) {
        let mut wire = BytesMut::new();
        for (i, m) in msgs.iter().enumerate() {
            Frame::with_message(MessageType::Request, i as i32, m).unwrap().encode(&mut wire).unwrap();
        }
        let mut d = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                prop_assert_eq!(f.request_id, got.len() as i32);
                got.push(f.message().unwrap().unwrap());
            }
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn arbitrary_bodies_never_panic(code in prop_oneof![0i16..130, any::<i16>()],
                                    rest in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(&rest);
        if let Ok(m) = Message::decode(&body) {
            // Whatever decodes re-encodes to a body that decodes the same.
            let again = m.to_bytes().unwrap();
            prop_assert_eq!(Message::decode(&again).unwrap(), m);
        }
        let _ = Frame::new(MessageType::Request, 0, Bytes::from(body)).message();
    }
}
