#!/bin/bash
# Requests the protocol says are errors get the right error and the connection goes on: past the
# end, oversized, unknown commands, flags that were not negotiated; a bad request magic closes
# only its own connection.
. "$(dirname "$0")/functions.sh"
need nbdsh

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
"$DOG_BIN" -p "$P" vdi create disk 8M

# libnbd with its own checks off, so that bad requests reach the server.
nbdsh -c '
import errno, os
h.set_strict_mode(0)
h.connect_uri("'"$NBD"'/disk")
size = h.get_size()
def expect(err, fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        assert e.errno in (err, errno.errorcode[err]), "%s: got %s, expected %s" % (fn.__name__, e.errno, errno.errorcode[err])
        return
    raise AssertionError("%s%r succeeded" % (fn.__name__, args))
data = os.urandom(8192)
h.pwrite(data, 4096)
expect(errno.EINVAL, h.pread, 512, size - 256)               # read past the end
expect(errno.EINVAL, h.pread, 512, 2**64 - 256)              # offset + length overflows
expect(errno.ENOSPC, h.pwrite, b"x" * 512, size - 256)       # write past the end
expect(errno.EINVAL, h.trim, 8192, size)                     # trim past the end
expect(errno.ENOSPC, h.zero, 8192, size - 4096)              # zero past the end
expect(errno.EINVAL, h.block_status, 0, 0, lambda *a: 0)     # zero-length status
expect(errno.EINVAL, h.pread, 33 << 20, 0)                   # over the maximum block size
expect(errno.EINVAL, h.pwrite, bytes(33 << 20), 0)           # its payload is skipped
assert h.pread(8192, 4096) == data, "the connection lost its place after errors"
'
# Raw requests: an unknown command and a flag the command does not take get EINVAL and the
# connection goes on; a bad magic closes it. Simple replies (no structured reply negotiated).
/usr/bin/python3 - "$NP" <<'PY' || fail "raw request edge cases"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
assert s.recv(18, socket.MSG_WAITALL)[:16] == b"NBDMAGICIHAVEOPT"
s.sendall(struct.pack(">I", 3))
name = b"disk"
s.sendall(struct.pack(">QII", 0x49484156454f5054, 7, 6 + len(name)) +
          struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
while True:
    magic, opt, typ, n = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
    s.recv(n, socket.MSG_WAITALL) if n else b""
    if typ == 1:
        break
    assert typ == 3, hex(typ)
def req(typ, cookie, off, length, flags=0, payload=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, length) + payload)
def reply(cookie, want_err, nbytes=0):
    magic, err, c = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
    assert magic == 0x67446698 and c == cookie, (hex(magic), c)
    assert err == want_err, (cookie, err, want_err)
    return s.recv(nbytes, socket.MSG_WAITALL) if nbytes and not err else b""
req(99, 1, 0, 512); reply(1, 22)                  # unknown command
req(0, 2, 0, 512, flags=1 << 3); reply(2, 22)     # REQ_ONE on a READ
req(0, 3, 0, 512, flags=1 << 2); reply(3, 22)     # DF without structured replies
req(1, 4, 0, 4, payload=b"abcd"); reply(4, 0)     # a write
req(0, 5, 0, 4); assert reply(5, 0, 4) == b"abcd"
req(3, 6, 0, 0); reply(6, 0)                      # flush
s.sendall(b"\xde\xad\xbe\xef" + bytes(24))        # bad magic: closed
assert s.recv(100) == b"", "connection open after a bad request magic"
PY
grep -q "bad request magic" "$SCRATCH/n0/sheep.log" || fail "bad request magic not logged"
# The server still serves others.
nbdsh -u "$NBD/disk" -c 'assert h.pread(4, 0) == b"abcd"' || fail "server stopped serving"
echo "PASS: $TEST_NAME"
