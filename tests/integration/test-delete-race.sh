#!/bin/bash
# A write racing `dog vdi delete`: its header arrives before the delete, its payload after. On the
# old code it was acknowledged, recreated the object the delete had removed, and with -R its bytes
# showed up in a new VDI that got the same id. Now the delete fences the id on every shard first:
# the write fails, nothing is recreated, and the new VDI reads zeros.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 -R >/dev/null
dog vdi create disk 64M
head -c 4M /dev/zero | tr '\0' '\141' | dog vdi write disk 0 # object 0 is allocated
VID=$(dog vdi list -r disk | awk '{print $3}')

/usr/bin/python3 - "$NP" "$SCRATCH/go" "$SCRATCH/ready" "$SCRATCH/result" <<'PY' &
import os, socket, struct, sys, time
port, go, ready, result = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        assert c, "closed"
        b += c
    return b
recv(18)
s.sendall(struct.pack(">I", 1))
name = b"disk"
data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(data)) + data)
while True:
    _m, _o, rtype, rlen = struct.unpack(">QIII", recv(20))
    recv(rlen)
    if rtype == 1:
        break
payload = b"\x62" * 65536
# The header and half the payload, then wait for the delete.
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 1 << 20, len(payload)) + payload[:32768])
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.02)
s.sendall(payload[32768:])
magic, err, cookie = struct.unpack(">IIQ", recv(16))
open(result, "w").write("%d\n" % err)
PY
CLIENT=$!
for _ in $(seq 200); do [ -e "$SCRATCH/ready" ] && break; sleep 0.05; done
[ -e "$SCRATCH/ready" ] || fail "the racing client did not get ready"
dog vdi delete disk
touch "$SCRATCH/go"
wait "$CLIENT" || fail "the racing client failed"
[ "$(cat "$SCRATCH/result")" != 0 ] || fail "a write to a deleted VDI was acknowledged"
ls "$SCRATCH/n0/obj" | grep -qi "^00${VID}" && fail "a data object of the deleted VDI was recreated: $(ls "$SCRATCH/n0/obj")"

# The id comes back with -R; the new VDI must read zeros where the racing write aimed.
dog vdi create disk 64M
[ "$(dog vdi list -r disk | awk '{print $3}')" = "$VID" ] || fail "the id was not recycled"
dog vdi read disk 1M 64K | cmp -s - <(head -c 65536 /dev/zero) ||
	fail "the racing write's bytes leaked into the new VDI"
# And the new VDI takes writes to the same object (the fence is lifted for the reused id).
head -c 65536 /dev/urandom >"$SCRATCH/blk"
dog vdi write disk 1M 64K <"$SCRATCH/blk"
dog vdi read disk 1M 64K | cmp -s - "$SCRATCH/blk" || fail "writes to the reused id fail"
# A format forgets every VDI, deleted ones too: the same name gets the same id, and it is not fenced.
dog vdi delete disk
dog cluster format -c 1 >/dev/null
dog vdi create disk 64M
[ "$(dog vdi list -r disk | awk '{print $3}')" = "$VID" ] || fail "a new format gave another id"
dog vdi write disk 1M 64K <"$SCRATCH/blk" || fail "a write after a format is refused"
dog vdi read disk 1M 64K | cmp -s - "$SCRATCH/blk" || fail "data after a format differs"
echo "PASS: $TEST_NAME"
