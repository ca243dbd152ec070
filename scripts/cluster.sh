#!/bin/bash
# A multi-node sheepdog cluster on loopback, for trying things out and for the tests:
#
#   scripts/cluster.sh start N [--nbd] [--format] [--copies N]   start nodes 0..N-1
#   scripts/cluster.sh restart I [--nbd]                        start node I again (alone)
#   scripts/cluster.sh stop                                     SIGTERM every node, wait
#   scripts/cluster.sh status                                   dog node list, cluster info
#   scripts/cluster.sh clean                                    stop, then erase the data
#   scripts/cluster.sh net-up N | net-down                      network namespaces (below)
#   scripts/cluster.sh partition I... | heal I...               cut nodes off, and back
#
# Node i keeps its data in $CLUSTER_DIR/node$i (default /tmp/sheepdog-cluster), listens on
# control port BASE+2i (BASE: $CLUSTER_PORT, default 7000), Raft on the port after it, and with
# --nbd serves NBD on $CLUSTER_NBD_PORT+i (default 10809+i); node i is in zone i. Node 0 starts the cluster; the
# others join it with --seed. A restart with `start` (same N) brings the same cluster back.
#
# With CLUSTER_NET=A.B.C (and root), node i runs in network namespace sdnB-C-<i> at A.B.C.(i+1)
# on a bridge that this host reaches at A.B.C.254, every node on port 7000 (NBD 10809): then
# `partition I...` cuts those nodes off the bridge (a real network partition: their sockets
# just go silent) and `heal I...` puts them back. `net-up N` makes the namespaces first.
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
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 64
}

NET=${CLUSTER_NET:-}
# Names from the network's last two numbers, so that two clusters on one host stay apart.
net_tag() { local t=${NET#*.}; echo "sdn${t//./-}"; }
ns_of() { echo "$(net_tag)-$1"; }
addr_of() { if [ -n "$NET" ]; then echo "$NET.$(($1 + 1))"; else echo 127.0.0.1; fi; }
port_of() { if [ -n "$NET" ]; then echo 7000; else echo $((BASE + 2 * $1)); fi; }
nbd_port_of() { if [ -n "$NET" ]; then echo 10809; else echo $((NBD_BASE + $1)); fi; }
dog_at() { # i dog-arguments...
	local i=$1
	shift
	"$BUILD/dog" "$@" -a "$(addr_of "$i")" -p "$(port_of "$i")"
}

wait_answer() { # i
	for _ in $(seq 200); do
		dog_at "$1" node list >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "cluster.sh: node $1 ($(addr_of "$1"):$(port_of "$1")) does not answer" >&2
	return 1
}

wait_members() { # i count: the members are in, and a leader serves changes
	for _ in $(seq 300); do
		n=$(dog_at "$1" node list -r 2>/dev/null | wc -l || true)
		[ "$n" -ge "$2" ] && ! dog_at "$1" cluster info 2>&1 | grep -q halted &&
			return 0
		sleep 0.1
	done
	echo "cluster.sh: only $n of $2 nodes joined (see $DIR/node*/sheep.log)" >&2
	return 1
}

start_node() { # i nbd(0|1): the same command line every time (a restart ignores --seed)
	local i=$1
	local -a run=()
	# One zone per node: on one host they would all share the address's zone.
	local args=(-b "$(addr_of "$i")" -p "$(port_of "$i")" -z "$i" --shards "$SHARDS"
		--cluster-driver sdcluster)
	[ "$i" -gt 0 ] && args+=(--seed "$(addr_of 0):$(port_of 0)")
	[ "$2" -eq 1 ] && args+=(--nbd-port "$(nbd_port_of "$i")")
	args+=("${EXTRA[@]}")
	[ -n "$NET" ] && run=(ip netns exec "$(ns_of "$i")")
	"${run[@]}" "$BUILD/sheep" "${args[@]}" "$DIR/node$i"
	wait_answer "$i"
}

net_up() { # n
	local n=$1 br
	br=$(net_tag)
	[ -n "$NET" ] || { echo "cluster.sh: set CLUSTER_NET=A.B.C first" >&2; exit 64; }
	ip link add "$br" type bridge
	ip addr add "$NET.254/24" dev "$br"
	ip link set "$br" up
	for i in $(seq 0 $((n - 1))); do
		ip netns add "$(ns_of "$i")"
		ip link add "${br}v$i" type veth peer name "${br}b$i"
		ip link set "${br}v$i" netns "$(ns_of "$i")"
		ip link set "${br}b$i" master "$br"
		ip link set "${br}b$i" up
		ip -n "$(ns_of "$i")" addr add "$(addr_of "$i")/24" dev "${br}v$i"
		ip -n "$(ns_of "$i")" link set "${br}v$i" up
		ip -n "$(ns_of "$i")" link set lo up
	done
}

net_down() {
	local br
	br=$(net_tag)
	for ns in $(ip netns list | awk '{print $1}' | grep "^$br-"); do
		ip netns del "$ns"
	done
	ip link del "$br" 2>/dev/null || true
}

partition() { # state i...: the node's end of its link on the bridge goes down (or up)
	local state=$1 br
	br=$(net_tag)
	shift
	[ -n "$NET" ] || { echo "cluster.sh: partitions need CLUSTER_NET" >&2; exit 64; }
	for i in "$@"; do ip link set "${br}b$i" "$state"; done
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
		wait_members "$i" "$n"
	done
	if [ $format -eq 1 ]; then
		dog_at 0 cluster format ${copies:+-c "$copies"}
	fi
	echo "cluster.sh: $n nodes up, $(addr_of 0):$(port_of 0) .. $(addr_of $((n - 1))):$(port_of $((n - 1)))"
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
	dog_at 0 node list
	dog_at 0 cluster info
}

case ${1:-} in
start) shift; [ $# -ge 1 ] || usage; start "$@" ;;
restart) shift; [ $# -ge 1 ] || usage; restart "$@" ;;
stop) stop ;;
status) status ;;
clean) stop; rm -rf "$DIR" ;;
net-up) shift; [ $# -eq 1 ] || usage; net_up "$1" ;;
net-down) net_down ;;
partition) shift; partition down "$@" ;;
heal) shift; partition up "$@" ;;
*) usage ;;
esac
