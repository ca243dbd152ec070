#!/bin/bash
# The NBD connection limit (--limits nbd-conns): connections still in their handshake make room for
# newcomers, oldest first; established ones are never closed for a newcomer, which is refused
# instead, with one log line a second saying how many and which limit to raise. New connections go
# to the shard with the fewest, so a client is not refused while a shard has room.
. "$(dirname "$0")/functions.sh"
need nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP" --limits nbd-conns=8
"$DOG_BIN" vdi create -p "$P" disk 16M

/usr/bin/python3 - "$NP" <<'PY' || fail "the connection limit does not behave"
import socket, struct, sys, time
port = int(sys.argv[1])

def greeted():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    hello = b""
    while len(hello) < 18:
        chunk = s.recv(18 - len(hello))
        if not chunk:
            return s, False  # closed at once: refused
        hello += chunk
    return s, True

def established():
    s, ok = greeted()
    assert ok, "refused below the limit"
    s.sendall(struct.pack(">I", 1))
    name = b"disk"
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(data)) + data)
    while True:
        hdr = b""
        while len(hdr) < 20:
            hdr += s.recv(20 - len(hdr))
        _m, _o, rtype, rlen = struct.unpack(">QIII", hdr)
        while rlen:
            rlen -= len(s.recv(rlen))
        if rtype == 1:
            return s

# Eight half-open handshakes fill the table; each newcomer closes the oldest of them.
half = [greeted()[0] for _ in range(8)]
time.sleep(0.3)
newer = [established() for _ in range(8)]
time.sleep(0.3)
closed = 0
for s in half:
    s.settimeout(2)
    try:
        if s.recv(1) == b"":
            closed += 1
    except (ConnectionResetError, socket.timeout):
        closed += isinstance(sys.exc_info()[1], ConnectionResetError)
assert closed == 8, "%d of 8 handshaking connections were closed for newcomers" % closed
# Eight established connections: a ninth is refused, and none of the eight is touched.
s, ok = greeted()
assert not ok, "a connection beyond the limit was served"
for e in newer:
    e.setblocking(False)
    try:
        assert e.recv(1) != b"", "an established connection was closed"
    except BlockingIOError:
        pass
# One established leaves: there is room again, on whichever shard it left.
for _ in range(2):
    newer.pop(0).close()
    time.sleep(0.3)
    newer.append(established())
print("limit holds: 8 handshakes evicted, the ninth established refused")
PY
for _ in $(seq 30); do
	grep -q "refused 1 NBD connections" "$SCRATCH/n0/sheep.log" && break
	sleep 0.1
done
grep -q "refused 1 NBD connections.*raise --limits nbd-conns" "$SCRATCH/n0/sheep.log" ||
	fail "the refusal was not logged"
# Each shard logs its first eviction of a second and sums up the rest once a second.
evictions() {
	echo $(($(grep -c "had waited longest in its handshake" "$SCRATCH/n0/sheep.log") + \
		$(grep -o "closed [0-9]* more NBD connections" "$SCRATCH/n0/sheep.log" |
			awk '{s += $2} END {print s + 0}')))
}
for _ in $(seq 30); do [ "$(evictions)" -ge 8 ] && break; sleep 0.1; done
[ "$(evictions)" -eq 8 ] || fail "$(evictions) evictions logged, not 8"
nbdinfo "nbd+unix:///disk?socket=$NBD_SOCK" >/dev/null || fail "nbdinfo after the test"
echo "PASS: $TEST_NAME"
