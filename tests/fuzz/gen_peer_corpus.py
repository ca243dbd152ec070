#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_peer_wire: streams of peer protocol frames (64-byte
little-endian header, then the payload) for the node the target validates against (cluster id
CLUSTER, epoch 7, 4 shards, 4 MiB data objects). Valid requests and replies of every opcode,
streams of several, and frames refused by each rule, so the fuzzer starts from every branch.
The layout is the one documented in src/cluster/peer/peer_wire.h.

usage: gen_peer_corpus.py [DIR]   (default: corpus/peer_wire next to this script)
Files are named seed-*; files the fuzzer added (other names) are left alone."""
import struct

from corpus_seeds import write_seeds

MAGIC = b"SDPR"
VERSION = 1
READ, WRITE, ZERO, PUNCH, REMOVE, FLUSH, PULL, HEARTBEAT, JOIN = range(1, 10)
OPS = {"read": READ, "write": WRITE, "zero": ZERO, "punch": PUNCH, "remove": REMOVE,
       "flush": FLUSH, "pull": PULL, "heartbeat": HEARTBEAT, "join": JOIN}
F_REPLY, F_SYNC, F_CREATE, F_FORWARD = 1, 2, 4, 8
RES_NO_OBJ, RES_OLD_NODE_VER = 0x02, 0x81

CLUSTER = 0x65F1E2D3
EPOCH = 7
SHARDS = 4
OBJ = 4 << 20
INODE_SIZE = 4664 + 4 * (1 << 20)
VDI_BIT = 1 << 63
JOIN_SIZE = 40


def data_oid(vid, idx):
    return (vid << 32) | idx


def hdr(op, flags=0, cluster=CLUSTER, epoch=EPOCH, sender=1, req_id=1, oid=0, offset=0,
        length=0, result=0, shard=0, ec_index=0, version=VERSION, reserved=b"\0" * 5):
    return (MAGIC + struct.pack("<BBHQIIQQQIIHB", version, op, flags, cluster, epoch, sender,
                                req_id, oid, offset, length, result, shard, ec_index) + reserved)


def join_payload(addr=b"\0" * 10 + b"\xff\xff" + bytes([10, 0, 0, 2]), port=7000,
                 peer_port=7001, zone=0x0200000A, vnodes=128, shards=SHARDS, space=1 << 40,
                 reserved=b"\0" * 4):
    return addr + struct.pack("<HHIHH", port, peer_port, zone, vnodes, shards) + reserved + \
        struct.pack("<Q", space)


def payload(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def request(op, rid, **kw):
    """A valid request of this opcode, with its payload when it carries one."""
    oid = kw.pop("oid", data_oid(0x123456, rid % 5))
    shard = kw.pop("shard", rid % SHARDS)
    if op in (READ, PULL, ZERO, PUNCH):
        return hdr(op, req_id=rid, oid=oid, offset=kw.pop("offset", 4096),
                   length=kw.pop("length", 8192), shard=shard, **kw)
    if op == WRITE:
        n = kw.pop("length", 512)
        return hdr(op, req_id=rid, oid=oid, offset=kw.pop("offset", 1024), length=n,
                   shard=shard, flags=kw.pop("flags", F_SYNC | F_CREATE), **kw) + payload(n, rid)
    if op == REMOVE:
        return hdr(op, req_id=rid, oid=oid, shard=shard, **kw)
    if op == JOIN:
        body = kw.pop("body", join_payload())
        return hdr(op, req_id=rid, length=len(body), **kw) + body
    return hdr(op, req_id=rid, shard=shard, **kw)  # FLUSH, HEARTBEAT


def reply(op, rid, result=0, length=None, epoch=EPOCH):
    n = length if length is not None else (512 if op in (READ, PULL) and result == 0 else 0)
    return hdr(op, F_REPLY, req_id=rid, epoch=epoch, length=n, result=result) + payload(n, rid)


def seeds():
    out = {}
    for name, op in OPS.items():
        out["req-" + name] = request(op, op)
        out["reply-" + name] = reply(op, op)
    out["stream-all-requests"] = b"".join(request(op, op) for op in OPS.values())
    out["stream-all-replies"] = b"".join(reply(op, op) for op in OPS.values())
    out["stream-write-flush"] = (request(WRITE, 1, flags=F_FORWARD | F_CREATE, length=4096) +
                                 request(WRITE, 2, offset=OBJ - 512) + request(FLUSH, 3))
    out["req-write-inode"] = request(WRITE, 4, oid=VDI_BIT | (0x123456 << 32),
                                     offset=INODE_SIZE - 64, length=64)
    out["req-zero-whole-object"] = request(ZERO, 5, offset=0, length=OBJ, flags=F_SYNC)
    out["req-punch-forward"] = request(PUNCH, 6, flags=F_FORWARD | F_SYNC)
    out["req-remove-forward"] = request(REMOVE, 7, flags=F_FORWARD)
    out["req-join-new-node"] = request(JOIN, 8, cluster=0)
    out["req-join-gateway"] = request(JOIN, 9, body=join_payload(vnodes=0, space=0, shards=1))
    out["req-ec-strip"] = request(READ, 10, ec_index=3)
    out["reply-read-failed"] = reply(READ, 11, result=RES_NO_OBJ)
    out["reply-old-node-ver"] = reply(WRITE, 12, result=RES_OLD_NODE_VER, epoch=EPOCH + 2)
    # refused by validation: the stream goes on after each
    out["refuse-cluster"] = request(READ, 20, cluster=CLUSTER + 1) + request(FLUSH, 21)
    out["refuse-opcode"] = hdr(42, req_id=22) + request(HEARTBEAT, 23)
    out["refuse-flags"] = request(READ, 24, flags=F_SYNC) + request(FLUSH, 25)
    out["refuse-result"] = request(READ, 26, result=3)
    out["refuse-length"] = hdr(WRITE, req_id=27, length=(32 << 20) + 1)
    out["refuse-range"] = request(READ, 28, offset=OBJ - 4096, length=8192)
    out["refuse-range-wrap"] = request(ZERO, 29, offset=(1 << 64) - 100, length=4096)
    out["refuse-offset-flush"] = request(FLUSH, 30, offset=4096)
    out["refuse-shard"] = request(WRITE, 31, shard=SHARDS)
    out["refuse-old-epoch"] = request(WRITE, 32, epoch=EPOCH - 1)
    out["refuse-new-epoch"] = request(REMOVE, 33, epoch=EPOCH + 1)
    out["pull-other-epoch"] = request(PULL, 34, epoch=EPOCH - 3)
    out["refuse-join-size"] = request(JOIN, 35, body=join_payload() + b"\0")
    out["refuse-join-body"] = (request(JOIN, 36, body=join_payload(port=0)) +
                               request(JOIN, 37, body=join_payload(reserved=b"\0\0\1\0")))
    # close the connection: nothing after these is read
    out["close-magic"] = b"SDPQ" + request(READ, 40)[4:]
    out["close-version"] = hdr(READ, version=2)
    out["close-reserved"] = hdr(READ, reserved=b"\0\0\0\0\1")
    out["partial-header"] = request(FLUSH, 41) + request(READ, 42)[:40]
    out["partial-payload"] = request(WRITE, 43, length=4096)[:1000]
    return out


def main():
    write_seeds("peer_wire", seeds())


if __name__ == "__main__":
    main()
