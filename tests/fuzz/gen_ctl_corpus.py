#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ctl_request: control protocol frames (4-byte big-endian
length, then a protobuf Request as in proto/sheepdog.proto) that a correct sheep accepts, for the
box's cluster (VDIs vol0 and vol1). The protobuf encoding is written out here by hand, so that the
script needs nothing but python; the field numbers are those of proto/sheepdog.proto.

usage: gen_ctl_corpus.py [DIR]   (default: corpus/ctl_request next to this script)
Files are named seed-*; files the fuzzer added (other names) are left alone."""
import struct

from corpus_seeds import write_seeds

CTL_PROTO_VERSION = 1
CTL_MAX_IO = 4 << 20


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_uint(field, value):
    return varint(field << 3) + varint(value)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


# Request.op fields and their bodies.
CLUSTER_FORMAT, CLUSTER_INFO, CLUSTER_SHUTDOWN = 10, 11, 12
NODE_LIST, NODE_INFO, NODE_KILL, NODE_RECOVERY = 20, 21, 22, 23
VDI_CREATE, VDI_PREALLOC, VDI_DELETE, VDI_LIST, VDI_RESIZE = 30, 31, 32, 33, 34
VDI_READ, VDI_WRITE, VDI_SETATTR, VDI_GETATTR, VDI_INFO = 35, 36, 37, 38, 39


def frame(op, body=None, flag=False, version=CTL_PROTO_VERSION):
    """One framed Request: op with a message body, or a bool op (flag)."""
    payload = f_uint(1, version)
    payload += f_bytes(op, body) if body is not None else f_uint(op, 1 if flag else 0)
    return struct.pack(">I", len(payload)) + payload


def flag(op):
    return frame(op, flag=True)


def fmt(copies=1, policy=0, store="", shift=0, recycle=False, strict=False):
    b = f_uint(1, copies) + f_uint(2, policy) + f_bytes(3, store) + f_uint(4, shift)
    b += f_uint(5, int(recycle)) + f_uint(6, int(strict))
    return frame(CLUSTER_FORMAT, b)


def create(name, size, copies=None, policy=0):
    b = f_bytes(1, name) + f_uint(2, size)
    if copies is not None:
        b += f_uint(3, copies) + f_uint(4, policy) + f_uint(5, 1)
    return frame(VDI_CREATE, b)


def named(op, name):
    return frame(op, f_bytes(1, name))


def prealloc(name, start, count):
    return frame(VDI_PREALLOC, f_bytes(1, name) + f_uint(2, start) + f_uint(3, count))


def resize(name, size):
    return frame(VDI_RESIZE, f_bytes(1, name) + f_uint(2, size))


def read(name, offset, length):
    return frame(VDI_READ, f_bytes(1, name) + f_uint(2, offset) + f_uint(3, length))


def write(name, offset, data):
    return frame(VDI_WRITE, f_bytes(1, name) + f_uint(2, offset) + f_bytes(3, data))


def attr(op, name, key, value=b"", exclusive=False, delete=False):
    b = f_bytes(1, name) + f_bytes(2, key) + f_bytes(3, value)
    b += f_uint(4, int(exclusive)) + f_uint(5, int(delete))
    return frame(op, b)


MiB = 1 << 20
GiB = 1 << 30


def seeds():
    s = {}
    s["cluster-info"] = flag(CLUSTER_INFO)
    s["node-list"] = flag(NODE_LIST)
    s["node-info"] = flag(NODE_INFO)
    s["node-recovery"] = flag(NODE_RECOVERY) + flag(NODE_LIST)
    s["vdi-list"] = flag(VDI_LIST)
    s["vdi-info"] = named(VDI_INFO, "vol0") + named(VDI_INFO, "vol1")
    s["vdi-read"] = read("vol0", 0, 4096) + read("vol0", 4 * MiB - 2048, 4096)
    s["vdi-read-hole"] = read("vol0", 32 * MiB, 65536) + read("vol1", 0, 512)
    s["vdi-write"] = write("vol0", 8192, bytes(range(256)) * 16) + read("vol0", 8192, 4096)
    s["vdi-write-across"] = write("vol0", 8 * MiB - 100, b"\xab" * 200) + read("vol0", 8 * MiB - 100, 200)
    s["vdi-create"] = create("vol2", 16 * MiB) + named(VDI_INFO, "vol2") + flag(VDI_LIST)
    s["vdi-create-copies"] = create("vol2", GiB, copies=1) + create("vol3", MiB, copies=2)
    s["vdi-delete"] = named(VDI_DELETE, "vol0") + flag(VDI_LIST) + read("vol0", 0, 512)
    s["vdi-resize"] = resize("vol1", 8 * MiB) + write("vol1", 6 * MiB, b"x" * 512) + named(VDI_INFO, "vol1")
    s["vdi-prealloc"] = prealloc("vol1", 0, 1) + read("vol1", 0, 4096) + flag(NODE_INFO)
    s["vdi-attr"] = (attr(VDI_SETATTR, "vol0", "owner", b"alice") +
                     attr(VDI_GETATTR, "vol0", "owner") +
                     attr(VDI_SETATTR, "vol0", "owner", b"bob", exclusive=True) +
                     attr(VDI_SETATTR, "vol0", "owner", delete=True) +
                     attr(VDI_GETATTR, "vol0", "owner"))
    s["vdi-lifecycle"] = (create("vol2", 64 * MiB) + write("vol2", 0, b"hello" * 100) +
                          read("vol2", 0, 500) + resize("vol2", 128 * MiB) +
                          attr(VDI_SETATTR, "vol2", "k", b"v") + named(VDI_DELETE, "vol2") +
                          create("vol2", 4 * MiB) + flag(VDI_LIST))
    s["format-tree"] = (fmt(store="tree") + flag(CLUSTER_INFO) + create("t", 8 * MiB) +
                        write("t", 4 * MiB - 8, b"12345678" * 2) + read("t", 0, 8 * 1024))
    s["format-small-objects"] = (fmt(shift=20, recycle=True) + create("s", 16 * MiB) +
                                 prealloc("s", 0, 4) + write("s", MiB - 1, b"ab") +
                                 named(VDI_DELETE, "s") + create("s", MiB))
    s["format-strict-copies"] = fmt(copies=3, strict=True) + flag(CLUSTER_INFO) + create("c", MiB)
    # Refused requests: each must get an error response, not a closed connection.
    s["errors"] = (frame(CLUSTER_INFO, flag=True, version=2) + named(VDI_INFO, "nosuch") +
                   create("vol0", MiB) + create("zero", 0) + create("bad/name", MiB) +
                   create("huge", 1 << 60) + resize("vol0", MiB) +
                   read("vol0", 0, CTL_MAX_IO + 1) + read("vol0", 64 * MiB, 512) +
                   write("vol1", 4 * MiB - 1, b"ab") + prealloc("vol1", 5, 1) +
                   attr(VDI_GETATTR, "vol0", "nokey") +
                   fmt(copies=0, policy=0x21) + fmt(shift=40) + fmt(store="nosuch") +
                   frame(99, flag=True) + frame(VDI_CREATE, b""))
    return s


def main():
    write_seeds("ctl_request", seeds())


if __name__ == "__main__":
    main()
