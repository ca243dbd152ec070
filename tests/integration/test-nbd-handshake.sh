#!/bin/bash
# NBD handshake as clients see it: export listing, sizes and flags (nbdinfo), the Unix socket,
# unknown and default exports, resize and delete, and malformed handshakes that close only their
# own connection.
. "$(dirname "$0")/functions.sh"
need nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog vdi create disk 64M
dog vdi create other 1G

nbdinfo --list "$NBD" >"$SCRATCH/list" || fail "nbdinfo --list"
grep -q 'export="disk"' "$SCRATCH/list" || fail "disk not listed: $(cat "$SCRATCH/list")"
grep -q 'export="other"' "$SCRATCH/list" || fail "other not listed"
[ "$(nbdinfo --size "$NBD/disk")" = 67108864 ] || fail "size of disk"
[ "$(nbdinfo --size "$NBD/other")" = 1073741824 ] || fail "size of other"
for cap in multi-conn flush fua trim zero fast-zero cache df; do
	nbdinfo --can "$cap" "$NBD/disk" || fail "the export does not advertise $cap"
done
nbdinfo --is read-only "$NBD/disk" && fail "a VDI is exported read-only"
nbdinfo --json "$NBD/disk" >"$SCRATCH/info"
grep -q '"block_size_preferred": 4096' "$SCRATCH/info" || fail "preferred block size"
grep -q '"base:allocation"' "$SCRATCH/info" || fail "no base:allocation context"

# The same exports on the Unix socket.
[ "$(nbdinfo --size "nbd+unix:///disk?socket=$NBD_SOCK")" = 67108864 ] || fail "Unix socket"

# Unknown and default exports: a clear reason, and the server goes on.
# (nbdinfo shows the server's message in its debug output.)
expect_exit 1 env LIBNBD_DEBUG=1 nbdinfo "$NBD/nosuch"
expect_stderr "server error message: no VDI named 'nosuch'"
expect_exit 1 env LIBNBD_DEBUG=1 nbdinfo "$NBD"
expect_stderr "no default export"

# Resize and delete reach new connections.
dog vdi resize disk 128M
[ "$(nbdinfo --size "$NBD/disk")" = 134217728 ] || fail "resize not seen over NBD"
dog vdi delete other
expect_exit 1 nbdinfo "$NBD/other"
nbdinfo --list "$NBD" | grep -q 'export="other"' && fail "a deleted VDI is still listed"

# Malformed handshakes: garbage, bad client flags, a bad option magic, an option too big to read
# (answered ERR_TOO_BIG, then the connection goes on to a normal ABORT).
send_raw "$NP" 'GET / HTTP/1.0\r\n\r\n'
send_raw "$NP" '\xff\xff\xff\xff'
/usr/bin/python3 - "$NP" <<'PY' || fail "handshake edge cases"
import socket, struct, sys
def conn():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    hello = s.recv(18, socket.MSG_WAITALL)
    assert hello[:16] == b"NBDMAGICIHAVEOPT", hello
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    return s
def reply(s):
    magic, opt, typ, n = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
    assert magic == 0x3e889045565a9, hex(magic)
    return opt, typ, s.recv(n, socket.MSG_WAITALL) if n else b""
s = conn()
s.sendall(struct.pack(">QII", 0x1234, 7, 0))  # bad option magic: closed
assert s.recv(100) == b"", "connection not closed after a bad option magic"
s = conn()
big = 1 << 20
s.sendall(struct.pack(">QII", 0x49484156454f5054, 7, big) + b"\0" * big)
opt, typ, _ = reply(s)
assert opt == 7 and typ == (1 << 31) + 9, (opt, hex(typ))  # NBD_REP_ERR_TOO_BIG
s.sendall(struct.pack(">QII", 0x49484156454f5054, 2, 0))  # ABORT
opt, typ, _ = reply(s)
assert opt == 2 and typ == 1, (opt, typ)
s = conn()
s.sendall(struct.pack(">QII", 0x49484156454f5054, 1, 6) + b"nosuch")  # EXPORT_NAME, unknown
assert s.recv(100) == b"", "connection not closed after EXPORT_NAME of an unknown export"
PY
nbdinfo --size "$NBD/disk" >/dev/null || fail "sheep stopped serving after bad handshakes"
grep -q "bad option magic" "$SCRATCH/n0/sheep.log" || fail "bad handshake not logged"
echo "PASS: $TEST_NAME"
