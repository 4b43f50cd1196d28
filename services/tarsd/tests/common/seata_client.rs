//! A raw Seata client for the tarsd process tests: TM and RM on one connection, written with
//! the `tars-seata` codec over a blocking `TcpStream`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tars_seata_front::tars_seata::bytes::BytesMut;
use tars_seata_front::tars_seata::message::{
    BranchPhaseTwoResponse, BranchRegisterRequest, GlobalBeginRequest, GlobalXidRequest,
    RegisterRmRequest, RegisterTmRequest, TransactionResponse,
};
use tars_seata_front::tars_seata::{
    BranchStatus, BranchType, Frame, FrameDecoder, GlobalStatus, Message, MessageType, ResultCode,
};

/// A raw Seata client (TM and RM on one connection) written with the `tars-seata` codec.
pub struct Client {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    id: i32,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client {
            stream,
            decoder: FrameDecoder::new(),
            buf: BytesMut::new(),
            id: 0,
        }
    }

    pub fn write(&mut self, message_type: MessageType, id: i32, msg: &Message) {
        let mut wire = BytesMut::new();
        Frame::with_message(message_type, id, msg)
            .expect("frame")
            .encode(&mut wire)
            .expect("encode");
        self.stream.write_all(&wire).expect("write");
    }

    pub fn send(&mut self, msg: &Message) -> i32 {
        self.id += 1;
        self.write(MessageType::Request, self.id, msg);
        self.id
    }

    pub fn recv_frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("frame") {
                return frame;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "tarsd closed the Seata connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn call(&mut self, msg: Message) -> Message {
        let id = self.send(&msg);
        let frame = self.recv_frame();
        assert_eq!(frame.request_id, id);
        frame.message().expect("decode").expect("body")
    }

    /// The next request of the TC (a phase-two request to this RM), with its id.
    pub fn next_request(&mut self) -> (i32, Message) {
        let frame = self.recv_frame();
        assert_eq!(frame.message_type, MessageType::Request, "{frame:?}");
        (
            frame.request_id,
            frame.message().expect("decode").expect("body"),
        )
    }

    /// Registers as TM and RM of `app` holding `resource`.
    pub fn register(&mut self, app: &str, resource: &str) {
        let tm = self.call(Message::RegisterTmRequest(RegisterTmRequest {
            version: "2.2.0".into(),
            application_id: app.into(),
            transaction_service_group: "default_tx_group".into(),
            extra_data: String::new(),
        }));
        assert!(matches!(tm, Message::RegisterTmResponse(r) if r.identified));
        let rm = self.call(Message::RegisterRmRequest(RegisterRmRequest {
            version: "2.2.0".into(),
            application_id: app.into(),
            transaction_service_group: "default_tx_group".into(),
            extra_data: String::new(),
            resource_ids: resource.into(),
        }));
        assert!(matches!(rm, Message::RegisterRmResponse(r) if r.identified));
    }

    pub fn begin(&mut self) -> String {
        let Message::GlobalBeginResponse(begun) =
            self.call(Message::GlobalBeginRequest(GlobalBeginRequest {
                timeout: 60_000,
                transaction_name: "seata-test".into(),
            }))
        else {
            panic!("not a begin response")
        };
        assert_eq!(begun.result.result_code, ResultCode::Success, "{begun:?}");
        begun.xid
    }

    pub fn tcc_branch(&mut self, xid: &str, resource: &str) -> i64 {
        let Message::BranchRegisterResponse(r) =
            self.call(Message::BranchRegisterRequest(BranchRegisterRequest {
                xid: xid.into(),
                branch_type: BranchType::Tcc,
                resource_id: resource.into(),
                lock_key: String::new(),
                application_data: "seata-branch".into(),
            }))
        else {
            panic!("not a branch register response")
        };
        assert_eq!(r.result.result_code, ResultCode::Success, "{r:?}");
        r.branch_id
    }

    /// Answers phase-two request `id` about `request` with success.
    pub fn succeed(&mut self, id: i32, request: &Message) {
        let (r, wrap): (_, fn(BranchPhaseTwoResponse) -> Message) = match request {
            Message::BranchCommitRequest(r) => (r, Message::BranchCommitResponse),
            Message::BranchRollbackRequest(r) => (r, Message::BranchRollbackResponse),
            other => panic!("not a phase-two request: {other:?}"),
        };
        let status = match request {
            Message::BranchCommitRequest(_) => BranchStatus::PhaseTwoCommitted,
            _ => BranchStatus::PhaseTwoRollbacked,
        };
        let answer = wrap(BranchPhaseTwoResponse {
            result: TransactionResponse::success(),
            xid: r.xid.clone(),
            branch_id: r.branch_id,
            branch_status: status,
        });
        self.write(MessageType::Response, id, &answer);
    }

    /// The transaction's status; phase-two requests of the TC that arrive meanwhile are
    /// answered with success.
    pub fn status(&mut self, xid: &str) -> GlobalStatus {
        let id = self.send(&Message::GlobalStatusRequest(GlobalXidRequest {
            xid: xid.into(),
            extra_data: String::new(),
        }));
        loop {
            let frame = self.recv_frame();
            let msg = frame.message().expect("decode").expect("body");
            if frame.message_type == MessageType::Request {
                self.succeed(frame.request_id, &msg);
                continue;
            }
            assert_eq!(frame.request_id, id);
            match msg {
                Message::GlobalStatusResponse(r) => return r.global_status,
                other => panic!("not a status response: {other:?}"),
            }
        }
    }
}
