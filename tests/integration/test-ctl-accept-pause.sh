#!/bin/bash
# The control port at the descriptor limit: accept fails with EMFILE, sheep stops accepting for
# 100 ms at a time (a level-triggered listener would otherwise spin and flood the log), and once
# descriptors are free again it accepts and answers dog. The connections that filled the table
# stay served meanwhile.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
( ulimit -n 96; start_sheep "$SCRATCH/n0" "$P" )
SHEEP_PIDS+=("$(cat "$SCRATCH/n0/sheep.pid")")
LOG=$SCRATCH/n0/sheep.log

# Holds 150 connections (more than sheep's descriptors) for 2 s, checks that an accepted one is
# still answered (a node list frame), then closes them all.
/usr/bin/python3 - "$P" <<'PY' || fail "the connections that were accepted are not served"
import socket, struct, sys, time
port = int(sys.argv[1])
conns = []
for _ in range(150):
    s = socket.socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", port))   # completes in the kernel's backlog even when sheep cannot accept
    conns.append(s)
time.sleep(2)
# The first connection was accepted before the table filled: an empty frame is a malformed
# request, which closes only that connection (recv returns b"" rather than timing out).
s = conns[0]
s.sendall(struct.pack(">I", 0))
try:
    data = s.recv(16)
except socket.timeout:
    sys.exit(1)
for c in conns:
    c.close()
PY

grep -q "accept on the control port: Too many open files; pausing for 100 ms" "$LOG" ||
	fail "sheep never ran out of descriptors: the test did not reach EMFILE"
pauses=$(grep -c "pausing for 100 ms" "$LOG")
# 2 s of EMFILE is about 20 pauses; a listener that is not paused logs on every loop pass.
[ "$pauses" -lt 200 ] || fail "$pauses EMFILE lines in 2 s: accepting was not paused"
for _ in $(seq 200); do
	"$DOG_BIN" -p "$P" node list >/dev/null 2>&1 && break
	sleep 0.05
done
"$DOG_BIN" -p "$P" node list >/dev/null || fail "dog is not answered once descriptors are free"
kill_sheep "$SCRATCH/n0" TERM
grep -q "sheep exits" "$LOG" || fail "SIGTERM did not shut down cleanly"
echo "PASS: $TEST_NAME"
