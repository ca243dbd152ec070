#!/bin/bash
# A sheep started again at once after SIGKILL comes back. The killed sheep's io_uring rings keep
# its listeners (NBD port, NBD Unix socket) until the kernel has torn them down, a moment after
# the process is gone: start-up waits (30 s at most) for listeners nobody alive holds, and fails
# at once for one a live program holds. First the listeners are held that way on purpose, for
# seconds (how long a ring keeps them depends on the kernel and the load: on a fast machine the
# real window can close before sheep reaches its listen calls); then four rounds (RESTART_ROUNDS)
# of SIGKILL with clients connected and a restart the moment the process is dead.
. "$(dirname "$0")/functions.sh"
need nbdsh nbdinfo fio flock
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }

P=$(free_port)
NP=$(free_port)
D=$SCRATCH/n0
start_nbd_sheep "$D" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog vdi create disk 128M
restart() { start_sheep "$D" "$P" --nbd-port "$NP" --nbd-socket "$NBD_SOCK"; }
BG=()
stop_bg() {
	local pid
	for pid in "${BG[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
	for pid in "${BG[@]}"; do wait "$pid" 2>/dev/null || true; done
	BG=()
}
CLEANUP_FNS+=(stop_bg)

# until_file_has FILE PATTERN: waits (bounded) until FILE has a line matching PATTERN.
until_file_has() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no '$2' in $1: $(cat "$1" 2>/dev/null)"
}

# hold.py MODE SPEC...: holds TCP ports ("tcp:PORT:SECONDS") and Unix sockets ("unix:PATH:
# SECONDS") with listeners, prints "ready" and lets each go after its seconds. MODE orphan: a
# child creates the listeners, sends them over socketpairs nobody reads and exits, so no process
# has them open and their creator is dead, as with a killed sheep's ring. MODE live: the holder
# keeps them open itself (another program on the port), until it is killed.
cat >"$SCRATCH/hold.py" <<'PY'
import os, socket, sys, time
mode, specs = sys.argv[1], [a.split(":") for a in sys.argv[2:]]
def listener(kind, where):
    if kind == "tcp":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(where)))
    else:
        s = socket.socket(socket.AF_UNIX)
        if os.path.exists(where):
            os.unlink(where)
        s.bind(where)
    s.listen(8)
    return s
if mode == "live":
    held = [listener(k, w) for k, w, _ in specs]
    print("ready", flush=True)
    time.sleep(60)
    sys.exit(0)
pairs = [socket.socketpair() for _ in specs]
child = os.fork()
if child == 0:
    for (k, w, _), (a, _b) in zip(specs, pairs):
        l = listener(k, w)
        socket.send_fds(a, [b"x"], [l.fileno()])
        l.close()
    os._exit(0)
os.waitpid(child, 0)
print("ready", flush=True)
t0 = time.monotonic()
for (_k, _w, secs), (a, b) in sorted(zip(specs, pairs), key=lambda x: float(x[0][2])):
    time.sleep(max(0.0, t0 + float(secs) - time.monotonic()))
    a.close()
    b.close()  # drops the listener queued in b
PY
hold() {
	/usr/bin/python3 "$SCRATCH/hold.py" "$@" >"$SCRATCH/hold.out" 2>&1 &
	BG+=($!)
	until_file_has "$SCRATCH/hold.out" ready
}
held_lines() { grep -c "is still held, probably by the io_uring ring" "$D/sheep.log" || true; }
SHEEP_ARGS=(-b 127.0.0.1 -p "$P" --shards 2 --nbd-port "$NP" --nbd-socket "$NBD_SOCK" "$D")
# A sheep that failed to start has reported it but may still be exiting (ASan checks for leaks),
# holding the directory lock: the next start waits for that.
until_unlocked() {
	for _ in $(seq 200); do
		flock -n "$D/lock" true && return 0
		sleep 0.05
	done
	fail "the failed sheep still holds $D/lock"
}

# Listeners held by nobody alive, released one after another: the control port after 1 s, the
# NBD port after 2 s, the NBD socket after 3 s. sheep waits for each, then serves.
kill_sheep "$D" KILL
hold orphan "tcp:$P:1" "tcp:$NP:2" "unix:$NBD_SOCK:3"
restart
# One bound for the whole start-up: the first listener may wait 30 s, the later ones what is left.
grep -q "WARN .*port $P is still held, probably by the io_uring ring of a sheep that was just killed; waiting up to 30 s" \
	"$D/sheep.log" || fail "no waiting line for the control port: $(tail -5 "$D/sheep.log")"
for what in "port $P" "port $NP" "socket $NBD_SOCK"; do
	grep -qE "WARN .*$what is still held, probably by .*; waiting up to [0-9]+ s" "$D/sheep.log" ||
		fail "no waiting line for $what: $(tail -5 "$D/sheep.log")"
	grep -q "$what is free again: listening" "$D/sheep.log" || fail "$what: no line after the wait"
done
[ "$(nbdinfo --size "$NBD/disk")" = 134217728 ] || fail "NBD port after the wait"
[ "$(nbdinfo --size "nbd+unix:///disk?socket=$NBD_SOCK")" = 134217728 ] || fail "NBD socket after the wait"
stop_bg

# A live program on the NBD port or socket: sheep fails at once, as before, and does not wait.
kill_sheep "$D" KILL
before=$(held_lines)
hold live "tcp:$NP:0"
expect_exit 1 "$SHEEP" "${SHEEP_ARGS[@]}"
expect_stderr "cannot listen for NBD on 127.0.0.1:$NP: Address already in use"
stop_bg
until_unlocked
hold live "unix:$NBD_SOCK:0"
expect_exit 1 "$SHEEP" "${SHEEP_ARGS[@]}"
expect_stderr "cannot listen for NBD on the Unix socket $NBD_SOCK: .*another server answers on it"
stop_bg
until_unlocked
[ "$(held_lines)" = "$before" ] || fail "sheep waited for a port a live program holds"
# Held by nobody alive for longer than the wait (shortened from 30 s): after it, the same clear
# failure.
hold orphan "tcp:$NP:60"
SHEEP_LISTEN_WAIT_S=2 expect_exit 1 "$SHEEP" "${SHEEP_ARGS[@]}"
expect_stderr "cannot listen for NBD on 127.0.0.1:$NP: Address already in use"
[ "$(held_lines)" = $((before + 1)) ] || fail "no waiting line before giving up on port $NP"
grep -q "port $NP is still held, .*; waiting up to 2 s" "$D/sheep.log" ||
	fail "SHEEP_LISTEN_WAIT_S=2 was not the wait: $(tail -3 "$D/sheep.log")"
stop_bg
until_unlocked
restart

# until_dead PID: spins until the process and all its threads have exited, the moment its parent
# (systemd) learns of it; not until it is reaped, which init may do much later.
until_dead() {
	local pid=$1 stat tasks end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		read -r stat 2>/dev/null <"/proc/$pid/stat" || return 0
		stat=${stat##*) }
		if [ "${stat:0:1}" = Z ]; then
			tasks=("/proc/$pid/task"/*)
			[ ${#tasks[@]} -le 1 ] && return 0
		fi
	done
	fail "sheep $pid did not die after SIGKILL"
}

# The Unix socket client: an idle control connection, and an NBD connection that stops in the
# middle of a 64 KiB write (header and half the data sent).
cat >"$SCRATCH/midway.py" <<'PY'
import socket, struct, sys, time
ctl = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
assert s.recv(18, socket.MSG_WAITALL)[:16] == b"NBDMAGICIHAVEOPT"
s.sendall(struct.pack(">I", 3))
opt = struct.pack(">I", 4) + b"disk" + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(opt)) + opt)  # NBD_OPT_GO
while True:
    _magic, _opt, typ, n = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
    if n:
        s.recv(n, socket.MSG_WAITALL)
    if typ == 1:
        break
    assert typ == 3, typ  # NBD_REP_INFO
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 96 << 20, 65536) + b"\xab" * 32768)
print("ready", flush=True)
time.sleep(60)
PY

for round in $(seq "${RESTART_ROUNDS:-4}"); do
	# Data written and flushed before the kill, one 64 KiB block a round past fio's 32 MiB.
	head -c 65536 /dev/urandom >"$SCRATCH/block$round"
	nbdsh -u "$NBD/disk" -c "h.pwrite(open('$SCRATCH/block$round', 'rb').read(), ($round + 40) << 20); h.flush()" ||
		fail "round $round: write before the kill"
	serving=$(grep -c "serving disk" "$D/sheep.log")
	timeout 60 fio --name=load --ioengine=nbd --uri="$NBD/disk" --size=32M --rw=randwrite --bs=4k \
		--iodepth=16 --time_based --runtime=50 --output="$SCRATCH/fio.out" >/dev/null 2>&1 &
	BG+=($!)
	/usr/bin/python3 "$SCRATCH/midway.py" "$NBD_SOCK" "$P" >"$SCRATCH/midway.out" 2>&1 &
	BG+=($!)
	until_file_has "$SCRATCH/midway.out" ready
	for i in $(seq 201); do
		[ "$(grep -c "serving disk" "$D/sheep.log")" -ge $((serving + 2)) ] && break
		[ "$i" = 201 ] && fail "round $round: fio did not connect: $(cat "$SCRATCH/fio.out")"
		sleep 0.05
	done
	PID=$(cat "$D/sheep.pid")
	kill -KILL "$PID"
	# Odd rounds restart the moment the process is dead (when systemd hears of it); even ones
	# at once, as `kill -9 PID; sheep ...` in a script does, while the old sheep may still be
	# exiting and holding its directory lock.
	[ $((round % 2)) = 0 ] || until_dead "$PID"
	"$SHEEP" "${SHEEP_ARGS[@]}" 2>"$SCRATCH/stderr" ||
		fail "round $round: sheep did not start again at once: $(cat "$SCRATCH/stderr")"
	SHEEP_PIDS+=("$(cat "$D/sheep.pid")")
	dog node list >/dev/null || fail "round $round: dog gets no answer"
	nbdinfo --list "$NBD" | grep -q 'export="disk"' || fail "round $round: nbdinfo does not list disk"
	[ "$(nbdinfo --size "nbd+unix:///disk?socket=$NBD_SOCK")" = 134217728 ] ||
		fail "round $round: the NBD socket does not serve disk"
	stop_bg
	nbdsh -u "$NBD/disk" -c "
for r in range(1, $round + 1):
    assert h.pread(65536, (r + 40) << 20) == open('$SCRATCH/block%d' % r, 'rb').read(), 'round %d' % r
" || fail "round $round: a block written and flushed before a kill is lost"
done
echo "PASS: $TEST_NAME ($(held_lines) waits in all)"
