#!/bin/bash
# Names that are not text: a NUL inside a name (which protobuf-c would silently cut short) and
# invalid UTF-8 are refused with a reply naming the field, on the control protocol (raw frames
# and dog) and as NBD export names; the connection goes on. Oversized NBD reads and writes get
# EINVAL as the protocol asks, and a refused write's payload is skipped.
. "$(dirname "$0")/functions.sh"
need nbdsh

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog vdi create disk 64M
dog vdi list -r | awk '{print $2}' | sort >"$SCRATCH/before"

# Raw control frames: 4-byte big-endian length, then a hand-encoded protobuf Request.
/usr/bin/python3 - "$P" <<'PY' || fail "control protocol: bad names"
import socket, struct, sys

def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])

def field(tag, wire, v):
    if wire == 0:
        return varint(tag << 3) + varint(v)
    return varint(tag << 3 | 2) + varint(len(v)) + v

def rd(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i

def decode(buf):
    out, i = {}, 0
    while i < len(buf):
        key, i = rd(buf, i)
        if key & 7 == 0:
            v, i = rd(buf, i)
        else:
            assert key & 7 == 2, key
            n, i = rd(buf, i)
            v, i = buf[i:i + n], i + n
        out.setdefault(key >> 3, []).append(v)
    return out

def request(tag, body):  # Request: version = 1, then the operation
    return field(1, 0, 1) + (field(tag, 0, body) if isinstance(body, int) else field(tag, 2, body))

def create(name):  # vdi_create = 30: VdiCreateReq { name = 1, size = 2 }
    return request(30, field(1, 2, name) + field(2, 0, 8 << 20))

def delete(name):  # vdi_delete = 32: VdiNameReq { name = 1 }
    return request(32, field(1, 2, name))

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)

def recvn(n):
    b = s.recv(n, socket.MSG_WAITALL)
    assert len(b) == n, "connection closed (%d of %d bytes)" % (len(b), n)
    return b

def call(payload):
    s.sendall(struct.pack(">I", len(payload)) + payload)
    rsp = decode(recvn(struct.unpack(">I", recvn(4))[0]))
    return rsp.get(2, [0])[0], rsp.get(3, [b""])[0].decode(), rsp

INVALID_PARMS = 5
for name, why in ((b"ab\0cd", "holds a NUL byte (at byte 2 of 5)"),
                  (b"\xff\xfe", "is not valid UTF-8 (at byte 0 of 2)"),
                  (b"\xc0\xaf", "is not valid UTF-8 (at byte 0 of 2)"),
                  (b"ok\xed\xa0\x80", "is not valid UTF-8 (at byte 2 of 5)")):
    res, msg, _ = call(create(name))
    assert res == INVALID_PARMS, (name, res, msg)
    assert "field 'vdi_create.name' " + why in msg, msg
    assert "UTF-8 text without NUL" in msg, msg
# Cut at its NUL, this would delete "disk".
res, msg, _ = call(delete(b"disk\0junk"))
assert res == INVALID_PARMS and "field 'vdi_delete.name' holds a NUL byte" in msg, (res, msg)
# The same connection goes on: a valid non-ASCII name is created, and listed.
res, msg, _ = call(create("ok-\u0434\u0438\u0441\u043a-\U0001F600".encode()))
assert res == 0, (res, msg)
res, msg, rsp = call(request(33, 1))  # vdi_list = 33
assert res == 0, (res, msg)
names = [decode(v)[1][0] for v in decode(rsp[33][0]).get(1, [])]
assert b"disk" in names and "ok-\u0434\u0438\u0441\u043a-\U0001F600".encode() in names, names
PY
dog vdi delete "ok-диск-😀" || fail "the valid UTF-8 name is not there to delete"
dog vdi list -r | awk '{print $2}' | sort >"$SCRATCH/after"
diff "$SCRATCH/before" "$SCRATCH/after" >&2 || fail "refused requests changed the VDI list"
grep -qx disk "$SCRATCH/after" || fail "disk is gone"

# dog passes names through as they are: the reply says why.
for name in $'\xff\xfe' $'\xc0\xaf'; do
	dog vdi create "$name" 8M 2>"$SCRATCH/stderr" && fail "dog created a VDI with an invalid UTF-8 name"
	grep -q "field 'vdi_create.name' is not valid UTF-8" "$SCRATCH/stderr" ||
		fail "dog's message: $(cat "$SCRATCH/stderr")"
done

# NBD export names: INFO/GO refuse NUL and invalid UTF-8 with ERR_INVALID and a reason, and the
# handshake goes on; EXPORT_NAME has no way to answer and closes. Then, in transmission (simple
# replies), oversized requests get EINVAL and the stream keeps its place.
/usr/bin/python3 - "$NP" <<'PY' || fail "NBD: bad export names and oversized requests"
import os, socket, struct, sys
IHAVEOPT, ERR_INVALID = 0x49484156454F5054, (1 << 31) + 3
def conn():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
    assert s.recv(18, socket.MSG_WAITALL)[:16] == b"NBDMAGICIHAVEOPT"
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    return s
def go(s, name):  # NBD_OPT_GO; returns the final reply type and its data
    s.sendall(struct.pack(">QII", IHAVEOPT, 7, 6 + len(name)) + struct.pack(">I", len(name)) +
              name + struct.pack(">H", 0))
    while True:
        magic, opt, typ, n = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
        assert magic == 0x3E889045565A9 and opt == 7, (hex(magic), opt)
        data = s.recv(n, socket.MSG_WAITALL) if n else b""
        if typ != 3:  # not NBD_REP_INFO: ACK or an error
            return typ, data
s = conn()
for name, why in ((b"\xff\xfe", b"export name is not valid UTF-8"),
                  (b"\xc0\xaf", b"export name is not valid UTF-8"),
                  (b"disk\0x", b"export name holds a NUL byte")):
    typ, data = go(s, name)
    assert typ == ERR_INVALID, (name, hex(typ), data)
    assert why in data and b"UTF-8 text without NUL" in data, data
typ, data = go(s, b"disk")
assert typ == 1, (hex(typ), data)  # ACK: transmission on the same connection

def req(typ, cookie, off, length, payload=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, typ, cookie, off, length) + payload)
def reply(cookie, nbytes=0):
    magic, err, c = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
    assert magic == 0x67446698 and c == cookie, (hex(magic), c, cookie)
    return err, (s.recv(nbytes, socket.MSG_WAITALL) if nbytes and not err else b"")
data = os.urandom(4096)
req(1, 1, 8192, len(data), data)
assert reply(1) == (0, b"")
req(0, 2, 0, 64 << 20)  # READ of 64 MiB: over the 32 MiB maximum block size
assert reply(2) == (22, b""), "oversized read is not EINVAL"
req(1, 3, 0, (32 << 20) + 4096, b"\xee" * ((32 << 20) + 4096))  # WRITE just over it
assert reply(3) == (22, b""), "oversized write is not EINVAL"
req(0, 4, 8192, len(data))
assert reply(4, len(data)) == (0, data), "the stream lost its place after a refused write"
req(0, 5, 0, 4096)
assert reply(5, 4096) == (0, bytes(4096)), "the refused write's payload was written"
s.close()

s = conn()  # EXPORT_NAME with invalid UTF-8: closed without a reply
s.sendall(struct.pack(">QII", IHAVEOPT, 1, 2) + b"\xc0\xaf")
assert s.recv(100) == b"", "EXPORT_NAME with invalid UTF-8 was answered"
PY

# libnbd (structured replies), its own checks off: the same EINVAL, and the connection goes on.
nbdsh -c '
import errno
h.set_strict_mode(0)
h.connect_uri("'"$NBD"'/disk")
assert h.get_structured_replies_negotiated()
for length in (64 << 20, (32 << 20) + 1):
    try:
        h.pread(length, 0)
        raise AssertionError("an oversized read of %d bytes succeeded" % length)
    except nbd.Error as e:
        assert e.errno in (errno.EINVAL, "EINVAL"), e.errno
h.pwrite(b"x" * 512, 0)
assert h.pread(512, 0) == b"x" * 512
' || fail "oversized read over libnbd"
nbdinfo --size "$NBD/disk" >/dev/null || fail "sheep stopped serving NBD"
echo "PASS: $TEST_NAME"
