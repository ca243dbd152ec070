#!/bin/bash
# A multi-node sheepdog cluster on loopback, for trying things out and for the tests:
#
#   scripts/cluster.sh start N [--nbd] [--format] [--copies N]   start nodes 0..N-1
#   scripts/cluster.sh restart I [--nbd]                        start node I again (alone)
#   scripts/cluster.sh stop                                     SIGTERM every node, wait
#   scripts/cluster.sh status                                   dog node list, cluster info
#   scripts/cluster.sh clean                                    stop, then erase the data
#
# Node i keeps its data in $CLUSTER_DIR/node$i (default /tmp/sheepdog-cluster), listens on
# control port BASE+2i (BASE: $CLUSTER_PORT, default 7000), Raft on the port after it, and with
# --nbd serves NBD on $CLUSTER_NBD_PORT+i (default 10809+i); node i is in zone i. Node 0 starts the cluster; the
# others join it with --seed. A restart with `start` (same N) brings the same cluster back.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
DIR=${CLUSTER_DIR:-/tmp/sheepdog-cluster}
BASE=${CLUSTER_PORT:-7000}
NBD_BASE=${CLUSTER_NBD_PORT:-10809}
SHARDS=${CLUSTER_SHARDS:-2}
# Extra sheep options for every node, e.g. CLUSTER_SHEEP_OPTS="-l debug".
read -ra EXTRA <<<"${CLUSTER_SHEEP_OPTS:-}"

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 64
}

port_of() { echo $((BASE + 2 * $1)); }

wait_answer() { # port
	for _ in $(seq 200); do
		"$BUILD/dog" node list -p "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "cluster.sh: the node on port $1 does not answer" >&2
	return 1
}

wait_members() { # port count: the members are in, and a leader serves changes
	for _ in $(seq 300); do
		n=$("$BUILD/dog" node list -r -p "$1" 2>/dev/null | wc -l || true)
		[ "$n" -ge "$2" ] && ! "$BUILD/dog" cluster info -p "$1" 2>&1 | grep -q halted &&
			return 0
		sleep 0.1
	done
	echo "cluster.sh: only $n of $2 nodes joined (see $DIR/node*/sheep.log)" >&2
	return 1
}

start_node() { # i nbd(0|1): the same command line every time (a restart ignores --seed)
	local i=$1
	# One zone per node: on one host they would all share the address's zone.
	local args=(-b 127.0.0.1 -p "$(port_of "$i")" -z "$i" --shards "$SHARDS"
		--cluster-driver sdcluster)
	[ "$i" -gt 0 ] && args+=(--seed "127.0.0.1:$(port_of 0)")
	[ "$2" -eq 1 ] && args+=(--nbd-port $((NBD_BASE + i)))
	args+=("${EXTRA[@]}")
	"$BUILD/sheep" "${args[@]}" "$DIR/node$i"
	wait_answer "$(port_of "$i")"
}

restart() {
	local i=$1 nbd=0
	[[ $i =~ ^[0-9]+$ ]] || usage
	[ "${2:-}" = --nbd ] && nbd=1
	start_node "$i" $nbd
}

start() {
	local n=$1 nbd=0 format=0 copies=""
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--nbd) nbd=1 ;;
		--format) format=1 ;;
		--copies) copies=$2; shift ;;
		*) usage ;;
		esac
		shift
	done
	[[ $n =~ ^[1-9][0-9]*$ ]] || usage
	[ -x "$BUILD/sheep" ] || { echo "cluster.sh: build first (scripts/build.sh)" >&2; exit 1; }
	mkdir -p "$DIR"
	for i in $(seq 0 $((n - 1))); do
		start_node "$i" $nbd
	done
	for i in $(seq 0 $((n - 1))); do
		wait_members "$(port_of "$i")" "$n"
	done
	if [ $format -eq 1 ]; then
		"$BUILD/dog" cluster format ${copies:+-c "$copies"} -p "$(port_of 0)"
	fi
	echo "cluster.sh: $n nodes up, control ports $(port_of 0)..$(port_of $((n - 1)))"
}

stop() {
	local pids=()
	for pidf in "$DIR"/node*/sheep.pid; do
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null || true
	done
}

status() {
	"$BUILD/dog" node list -p "$BASE"
	"$BUILD/dog" cluster info -p "$BASE"
}

case ${1:-} in
start) shift; [ $# -ge 1 ] || usage; start "$@" ;;
restart) shift; [ $# -ge 1 ] || usage; restart "$@" ;;
stop) stop ;;
status) status ;;
clean) stop; rm -rf "$DIR" ;;
*) usage ;;
esac
