#!/usr/bin/env python3
"""A Seata client built from seata-python's own message classes and codec (ProtocolV1 +
SeataSerializer), over a plain socket with its own framing loop (seata-python's network layer
reads one frame per recv(), which is not reliable).

Usage: seata_client.py HOST PORT. Runs a fixed TM/RM scenario against a Seata TC and prints
one JSON object with what the TC answered. Exit status 0 when every step got a response.
"""
import json
import socket
import struct
import sys
import time

from seata.core.ByteBuffer import ByteBuffer
from seata.core.model.BranchStatus import BranchStatus
from seata.core.model.BranchType import BranchType
from seata.core.protocol import MessageType
from seata.core.protocol.MergedWarpMessage import MergedWarpMessage
from seata.core.protocol.ProtocolConstants import ProtocolConstants
from seata.core.protocol.RegisterRMRequestResponse import RegisterRMRequest
from seata.core.protocol.RegisterTMRequestResponse import RegisterTMRequest
from seata.core.protocol.ResultCode import ResultCode
from seata.core.protocol.RpcMessage import RpcMessage
from seata.core.protocol.transaction.BranchCommitRequestResponse import (
    BranchCommitRequest,
    BranchCommitResponse,
)
from seata.core.protocol.transaction.BranchRollbackRequestResponse import (
    BranchRollbackRequest,
    BranchRollbackResponse,
)
from seata.core.protocol.transaction.BranchRegisterRequestResponse import BranchRegisterRequest
from seata.core.protocol.transaction.GlobalBeginRequestResponse import GlobalBeginRequest
from seata.core.protocol.transaction.GlobalCommitRequestResponse import GlobalCommitRequest
from seata.core.protocol.transaction.GlobalLockQueryRequestResponse import GlobalLockQueryRequest
from seata.core.protocol.transaction.GlobalRollbackRequestResponse import GlobalRollbackRequest
from seata.core.protocol.transaction.GlobalStatusRequestResponse import GlobalStatusRequest
from seata.core.rpc.v1.ProtocolV1 import ProtocolV1

RESOURCE = "jdbc:mysql://127.0.0.1:3306/pydb"
TCC_RESOURCE = "py-tcc-account"

# seata-python's MergedWarpMessage.get_type_code returns a module (it imports MessageType the
# module, not the class): give it the class's code so its own codec can encode merged requests.
MergedWarpMessage.get_type_code = lambda self: MessageType.MessageType.TYPE_SEATA_MERGE


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.protocol = ProtocolV1()
        # What the TC asked this connection as an RM: ("commit"|"rollback", xid, branch id,
        # resource id, application data), in arrival order.
        self.seen = []

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the TC closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        header = self._read_exact(ProtocolConstants.V1_HEAD_LENGTH)
        full_length = struct.unpack(">i", header[3:7])[0]
        rest = self._read_exact(full_length - ProtocolConstants.V1_HEAD_LENGTH)
        return self.protocol.decode(ByteBuffer.wrap(bytearray(header + rest)))

    def send(self, rpc):
        self.sock.sendall(self.protocol.encode(rpc))

    def serve(self, rpc):
        """Answers a request of the TC (phase two) as an RM that always succeeds."""
        body = rpc.body
        if isinstance(body, BranchCommitRequest):
            kind, response, status = "commit", BranchCommitResponse(), BranchStatus.PhaseTwo_Committed
        elif isinstance(body, BranchRollbackRequest):
            kind, response, status = "rollback", BranchRollbackResponse(), BranchStatus.PhaseTwo_Rollbacked
        else:
            raise ValueError(f"unexpected request from the TC: {type(body).__name__}")
        self.seen.append((kind, body.xid, body.branch_id, body.resource_id, body.application_data))
        response.xid = body.xid
        response.branch_id = body.branch_id
        response.branch_status = status
        response.result_code = ResultCode.Success
        self.send(RpcMessage.build_response_message(rpc, response, ProtocolConstants.MSGTYPE_RESPONSE))

    def call(self, msg):
        rpc = RpcMessage.build_request_message(msg, ProtocolConstants.MSGTYPE_RESQUEST_SYNC)
        self.send(rpc)
        while True:
            answer = self.recv()
            if answer.message_type == ProtocolConstants.MSGTYPE_RESQUEST_SYNC:
                self.serve(answer)
                continue
            if answer.id != rpc.id or answer.message_type != ProtocolConstants.MSGTYPE_RESPONSE:
                raise ValueError(f"answer {answer.id}/{answer.message_type} to request {rpc.id}")
            return answer.body

    def pump_until(self, done, seconds):
        """Serves the TC's requests until done() or the time is up; returns done()."""
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
            try:
                rpc = self.recv()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(10)
            if rpc.message_type == ProtocolConstants.MSGTYPE_RESQUEST_SYNC:
                self.serve(rpc)
        return done()

    def ping(self):
        rpc = RpcMessage.build_request_message(None, ProtocolConstants.MSGTYPE_HEARTBEAT_REQUEST)
        self.send(rpc)
        answer = self.recv()
        return answer.id == rpc.id and answer.message_type == ProtocolConstants.MSGTYPE_HEARTBEAT_RESPONSE


def value(v):
    """An enum's value (seata-python's are ints or 1-tuples), else v."""
    v = getattr(v, "value", v)
    if isinstance(v, tuple) and len(v) == 1:
        v = v[0]
    return v


def result(r):
    out = {"result": value(r.result_code), "code": value(r.transaction_exception_code)}
    for field in ("xid", "branch_id", "lockable", "global_status"):
        if hasattr(r, field):
            out[field] = value(getattr(r, field))
    return out


def begin(c, name):
    req = GlobalBeginRequest()
    req.timeout = 60000
    req.transaction_name = name
    return c.call(req)


def xid_request(cls, xid):
    req = cls()
    req.xid = xid
    req.extra_data = None
    return req


def branch(cls, xid, keys):
    req = cls()
    req.xid = xid
    req.branch_type = BranchType.AT
    req.resource_id = RESOURCE
    req.lock_key = keys
    req.application_data = None
    return req


def tcc_branch(c, xid, data):
    req = BranchRegisterRequest()
    req.xid = xid
    req.branch_type = BranchType.TCC
    req.resource_id = TCC_RESOURCE
    req.lock_key = None
    req.application_data = data
    return c.call(req).branch_id


def phase_two(c, xid, ids):
    """The phase-two requests the RM saw for xid: kind, the branch's registration index
    (from ids), resource and application data."""
    return [
        [kind, ids.index(branch_id), resource, data]
        for kind, x, branch_id, resource, data in c.seen
        if x == xid
    ]


def status_of(c, xid):
    return value(c.call(xid_request(GlobalStatusRequest, xid)).global_status)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    c = Conn(host, port)
    out = {"ping": c.ping()}
    tm = c.call(RegisterTMRequest("py-app", "default_tx_group", None))
    out["register_tm"] = {"identified": tm.identified, "version": tm.version}
    rm_req = RegisterRMRequest("py-app", "default_tx_group", None)
    rm_req.resource_ids = RESOURCE + "," + TCC_RESOURCE
    rm = c.call(rm_req)
    out["register_rm"] = {"identified": rm.identified}

    b1 = begin(c, "py-tx-1")
    out["begin"] = result(b1)
    xid = b1.xid
    out["branch_register"] = result(c.call(branch(BranchRegisterRequest, xid, "account:1")))
    b2 = begin(c, "py-tx-2")
    out["conflict"] = result(c.call(branch(BranchRegisterRequest, b2.xid, "account:1")))
    out["lock_query_held"] = result(c.call(branch(GlobalLockQueryRequest, b2.xid, "account:1")))
    out["lock_query_free"] = result(c.call(branch(GlobalLockQueryRequest, b2.xid, "account:2")))
    out["status"] = result(c.call(xid_request(GlobalStatusRequest, xid)))

    merged = MergedWarpMessage()
    merged.msgs = [
        xid_request(GlobalStatusRequest, xid),
        branch(GlobalLockQueryRequest, b2.xid, "account:1"),
        branch(GlobalLockQueryRequest, b2.xid, "account:3"),
    ]
    answer = c.call(merged)
    out["merged"] = [result(m) for m in answer.msgs]

    out["commit_empty"] = result(c.call(xid_request(GlobalCommitRequest, b2.xid)))
    out["commit"] = result(c.call(xid_request(GlobalCommitRequest, xid)))
    # The AT branch is committed after the TM's answer (async commit): the RM gets it.
    at_branch = out["branch_register"]["branch_id"]
    out["at_branch_commit"] = c.pump_until(lambda: phase_two(c, xid, [at_branch]), 10) and phase_two(
        c, xid, [at_branch]
    )
    out["commit_unknown"] = result(c.call(xid_request(GlobalCommitRequest, "127.0.0.1:1:77")))
    out["rollback_unknown"] = result(c.call(xid_request(GlobalRollbackRequest, "127.0.0.1:1:78")))
    out["status_unknown"] = result(c.call(xid_request(GlobalStatusRequest, "127.0.0.1:1:79")))

    # TCC: commit reaches the RM in registration order before the TM hears Committed.
    tcc = begin(c, "py-tcc-commit").xid
    ids = [tcc_branch(c, tcc, "first"), tcc_branch(c, tcc, "second")]
    out["tcc_commit"] = result(c.call(xid_request(GlobalCommitRequest, tcc)))
    out["tcc_commit_seen"] = phase_two(c, tcc, ids)

    # Rollback reaches it in reverse registration order.
    tcc = begin(c, "py-tcc-rollback").xid
    ids = [tcc_branch(c, tcc, "a"), tcc_branch(c, tcc, "b"), tcc_branch(c, tcc, "c")]
    out["tcc_rollback"] = result(c.call(xid_request(GlobalRollbackRequest, tcc)))
    out["tcc_rollback_seen"] = phase_two(c, tcc, ids)

    # A transaction the TM never ends is rolled back once its timeout passes.
    req = GlobalBeginRequest()
    req.timeout = 300
    req.transaction_name = "py-timeout"
    late = c.call(req).xid
    ids = [tcc_branch(c, late, "late")]
    c.pump_until(lambda: phase_two(c, late, ids), 15)
    out["timeout_seen"] = phase_two(c, late, ids)
    c.pump_until(lambda: status_of(c, late) == 15, 10)
    out["timeout_status"] = status_of(c, late)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
