# Shared helpers for the integration tests: each test-*.sh sources this file, starts real sheep
# processes on loopback in a scratch directory, drives them with dog (and later real NBD, NFS and
# FUSE clients), and exits 0 (pass), 1 (fail) or 77 (skip). Everything started is cleaned up.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
SHEEP=$BUILD/sheep
DOG_BIN=$BUILD/dog
TEST_NAME=$(basename "$0" .sh)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sd-$TEST_NAME.XXXXXX")
SHEEP_PIDS=()
CLEANUP_FNS=()

[ -x "$SHEEP" ] && [ -x "$DOG_BIN" ] || { echo "SKIP: build sheep and dog first ($BUILD)"; exit 77; }

cleanup() {
	local rc=$?
	for fn in "${CLEANUP_FNS[@]}"; do $fn || true; done
	for pid in "${SHEEP_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for log in "$SCRATCH"/*/sheep.log; do
			[ -f "$log" ] || continue
			echo "--- last lines of $log"
			tail -20 "$log"
		done
	fi
	[ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$SCRATCH"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# A free TCP port on loopback; free_ports K: K distinct ones.
free_port() {
	free_ports 1
}
free_ports() {
	pick_ports 0 "$1"
}

# start_sheep DIR PORT [extra sheep options...]: starts a daemon and waits until it answers.
start_sheep() {
	local dir=$1 port=$2
	shift 2
	"$SHEEP" -b 127.0.0.1 -p "$port" --shards 2 "$@" "$dir" || fail "sheep did not start on $dir"
	SHEEP_PIDS+=("$(cat "$dir/sheep.pid")")
	for _ in $(seq 400); do
		"$DOG_BIN" node list -p "$port" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "sheep on port $port does not answer"
}

# kill_sheep DIR [signal]: kills the sheep of DIR and waits until it is gone.
kill_sheep() {
	local dir=$1 sig=${2:-KILL} pid
	pid=$(cat "$dir/sheep.pid")
	kill "-$sig" "$pid"
	for _ in $(seq 400); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "sheep $pid did not exit after SIG$sig"
}

# expect_exit CODE COMMAND...: runs the command and checks its exit status; its stderr is kept in
# $SCRATCH/stderr for the caller to inspect.
expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$SCRATCH/stdout" 2>"$SCRATCH/stderr" || got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$SCRATCH/stderr")"
}

# expect_stderr PATTERN: the last expect_exit's stderr matches PATTERN (grep -E).
expect_stderr() {
	grep -qE "$1" "$SCRATCH/stderr" || fail "stderr does not match '$1': $(cat "$SCRATCH/stderr")"
}

# A file of n MiB of random bytes.
random_file() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

# Sends raw bytes (given as printf format) to a TCP port, then closes.
send_raw() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
try:
    s.settimeout(2)
    s.recv(65536)
except Exception:
    pass
s.close()
PY
}

# need CMD...: skips the test (exit 77) when a client it drives is not installed.
need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs $c"; exit 77; }
	done
}

# nbdsh runs "python3 -m nbd": Debian's python3 has libnbd's module, whatever PATH finds first.
nbdsh() {
	PATH=/usr/bin:$PATH command nbdsh "$@"
}

# start_nbd_sheep DIR PORT NBD_PORT [extra sheep options...]: a formatted one-copy node serving
# NBD on NBD_PORT and on $DIR.sock; sets NBD (the TCP base URI) and NBD_SOCK.
start_nbd_sheep() {
	local dir=$1 port=$2 nport=$3
	shift 3
	NBD_SOCK=$dir.sock
	start_sheep "$dir" "$port" --nbd-port "$nport" --nbd-socket "$NBD_SOCK" "$@"
	"$DOG_BIN" cluster format -c 1 -p "$port" >/dev/null
	NBD=nbd://127.0.0.1:$nport
}

# cluster_ports N: 2N distinct free loopback ports, for N sdcluster nodes: first N control ports
# whose next port (Raft's) is free too, then N more (NBD). All are held while they are chosen,
# so none is handed out twice.
cluster_ports() {
	pick_ports "$1" "$1"
}
# pick_ports C K: C ports whose next port is free too, then K more (cluster_ports, free_ports).
pick_ports() {
	/usr/bin/python3 - "$1" "$2" "${BUILD:-}" <<'PY'
import random, socket, sys
# Below the kernel's ephemeral range (32768 and up by default): a port a test picks and then
# leaves free until its sheep starts must not become the source port of some client's
# connection meanwhile (a restarted node found its Raft port taken that way). The plain and
# the sanitizer suites run side by side: each has its own half of the range.
n, k = int(sys.argv[1]), int(sys.argv[2])
lo = 21000 if "asan" in sys.argv[3] else 10000
hi = lo + 11000
held, ctl, other = [], [], []
def grab(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    held.append(s)
    return port
def pick():  # a port no other pick has (grab fails on one this process holds)
    while True:
        p = grab(random.randrange(lo, hi - 1))
        if p:
            return p
while len(ctl) < n:
    p = pick()
    if grab(p + 1):
        ctl.append(p)
while len(other) < k:
    other.append(pick())
print(" ".join(map(str, ctl + other)))
PY
}

# until_ok SECONDS COMMAND...: runs the command every 0.1 s until it succeeds; fails the test
# (with the command's last output) when it has not within SECONDS.
until_ok() {
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@" || true
	fail "'$*' did not succeed within $t s"
}

# sdcluster tests: node i of a cluster on loopback, its control port ${PORTS[i]} and NBD port
# ${NBDP[i]} (arrays the test fills, from cluster_ports), zone i, data in $SCRATCH/n<i>.
# CLUSTER_DRIVER=zookeeper runs the same tests over a ZooKeeper server of their own (started
# on the first node's start), dropping --seed, which that driver does not need.
CLUSTER_DRIVER=${CLUSTER_DRIVER:-sdcluster}
start_node() { # i [extra sheep options]
	local i=$1 a
	local -a opts=()
	shift
	if [ "$CLUSTER_DRIVER" = zookeeper ]; then
		[ -n "${ZK_HOSTS:-}" ] || zk_start 1
		while [ $# -gt 0 ]; do
			a=$1
			shift
			if [ "$a" = --seed ]; then shift; else opts+=("$a"); fi
		done
		set -- --cluster-driver zookeeper --zk "$ZK_HOSTS" --zk-timeout "${ZK_TIMEOUT:-3000}" \
			${opts[@]+"${opts[@]}"}
	else
		set -- --cluster-driver sdcluster "$@"
	fi
	start_sheep "$SCRATCH/n$i" "${PORTS[$i]}" -z "$i" --nbd-port "${NBDP[$i]}" "$@"
}
# cluster_ready N: nodes 0..N-1 each list N members and none of them is halted.
cluster_ready() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do
		[ "$(dogn $i node list -r | wc -l)" -eq "$n" ] &&
			! dogn $i cluster info | grep -q halted || return 1
	done
}
# nbd I NAME: the NBD URI of export NAME on node i.
nbd() { echo "nbd://127.0.0.1:${NBDP[$1]}/$2"; }
dogn() { # i dog-arguments...: dog against node i
	local i=$1
	shift
	"$DOG_BIN" "$@" -p "${PORTS[$i]}"
}

# Whether two object files hold the same bytes, reading past the end of a file as zeros (a copy
# pulled by a returning node may end at another block than the one it replaced).
same_object() {
	# Equal sizes (the common case): cmp, without a python start-up per object.
	if [ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ]; then
		cmp -s "$1" "$2"
		return
	fi
	python3 -c "
import sys
a, b = (open(f, 'rb').read() for f in sys.argv[1:3])
n = max(len(a), len(b))
sys.exit(a.ljust(n, b'\\0') != b.ljust(n, b'\\0'))" "$1" "$2"
}
# copies_agree COPIES NODE...: every data object found on those nodes ($SCRATCH/n<i>) is on
# exactly COPIES of them, with the same bytes; says what is wrong and returns 1 otherwise.
copies_agree() {
	local want=$1 f i n=0 holders
	shift
	for f in $(for i in "$@"; do ls "$SCRATCH/n$i/obj"; done | grep -E '^00' | sort -u); do
		holders=()
		for i in "$@"; do
			[ -f "$SCRATCH/n$i/obj/$f" ] && holders+=("$SCRATCH/n$i/obj/$f")
		done
		if [ ${#holders[@]} -ne "$want" ]; then
			echo "object $f is on ${#holders[@]} nodes, not $want: ${holders[*]}"
			return 1
		fi
		for h in "${holders[@]:1}"; do
			same_object "${holders[0]}" "$h" || { echo "the copies of $f differ ($h)"; return 1; }
		done
		n=$((n + 1))
	done
	[ $n -gt 0 ] || { echo "no data objects"; return 1; }
}

# ZooKeeper (Debian's zookeeper package) for the zookeeper driver: zk_start N runs an ensemble
# of N servers (1: standalone) on free loopback ports, data in $SCRATCH/zk<i>, and sets ZK_HOSTS
# ("127.0.0.1:P1,127.0.0.1:P2,..."). zk_kill I and zk_run I stop and start server I again;
# zk_mode I prints its role (standalone, leader, follower) or nothing when it does not serve.
ZK_JARS=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
ZK_PIDS=()
ZK_CLIENT_PORTS=()
zk_run() { # (in a subshell: not a job of the test's shell, whose 'wait' must not wait for it)
	local i=$1
	(java -Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$ZK_JARS" \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		org.apache.zookeeper.server.quorum.QuorumPeerMain "$SCRATCH/zk$i/zoo.cfg" \
		>>"$SCRATCH/zk$i/zk.log" 2>&1 &
		echo $! >"$SCRATCH/zk$i/pid")
	ZK_PIDS[i]=$(cat "$SCRATCH/zk$i/pid")
}
zk_kill() {
	local pid=${ZK_PIDS[$1]}
	kill -9 "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}
zk_mode() {
	(exec 3<>"/dev/tcp/127.0.0.1/${ZK_CLIENT_PORTS[$1]}" && echo -n srvr >&3 &&
		timeout 2 cat <&3) 2>/dev/null | sed -n 's/^Mode: //p'
}
zk_cleanup() {
	local i
	for i in "${!ZK_PIDS[@]}"; do zk_kill "$i"; done
}
zk_start() {
	local n=$1 i ports
	[ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null ||
		{ echo "SKIP: $TEST_NAME needs ZooKeeper (apt-get install zookeeper)"; exit 77; }
	read -r -a ports <<<"$(free_ports $((3 * n)))"
	ZK_HOSTS=
	for i in $(seq 0 $((n - 1))); do
		ZK_CLIENT_PORTS[i]=${ports[$((3 * i))]}
		ZK_HOSTS+="${ZK_HOSTS:+,}127.0.0.1:${ports[$((3 * i))]}"
	done
	for i in $(seq 0 $((n - 1))); do
		mkdir -p "$SCRATCH/zk$i/data"
		echo $((i + 1)) >"$SCRATCH/zk$i/data/myid"
		{
			echo "tickTime=500"
			echo "initLimit=20"
			echo "syncLimit=5"
			echo "dataDir=$SCRATCH/zk$i/data"
			echo "clientPort=${ports[$((3 * i))]}"
			echo "clientPortAddress=127.0.0.1"
			echo "maxClientCnxns=0"
			echo "admin.enableServer=false"
			echo "4lw.commands.whitelist=ruok,srvr"
			if [ "$n" -gt 1 ]; then
				for j in $(seq 0 $((n - 1))); do
					echo "server.$((j + 1))=127.0.0.1:${ports[$((3 * j + 1))]}:${ports[$((3 * j + 2))]}"
				done
			fi
		} >"$SCRATCH/zk$i/zoo.cfg"
	done
	[ ${#ZK_PIDS[@]} -gt 0 ] || CLEANUP_FNS+=(zk_cleanup)
	for i in $(seq 0 $((n - 1))); do zk_run "$i"; done
	for i in $(seq 0 $((n - 1))); do until_ok 60 zk_serving "$i"; done
}
zk_serving() { [ -n "$(zk_mode "$1")" ]; }
