#!/bin/bash
# dog's node and cluster commands against real sheep, with exact output: on one node (the local
# driver) node list/info/recovery/kill; on three sdcluster nodes node list/info/recovery from
# every node (-a/-p), node kill by Id (the others see a new epoch, node info names the missing
# node), cluster info identical on every node, cluster shutdown of all nodes and a restart that
# serves the same VDIs; sheep's start-up errors without a program-name prefix.
source "$(dirname "$0")/functions.sh"

HDR_LIST="  Id   Host:Port         V-Nodes       Zone"
HDR_RECOVERY=$'Nodes In Recovery:\n  Id   Host:Port         V-Nodes       Zone       Progress'
HDR_INFO=$'Id\tSize\tUsed\tAvail\tUse%'
SIZE='[0-9.]+ [MGTPEZY]B'

# same TEXT EXPECTED WHAT: exact comparison with a readable failure.
same() {
	[ "$1" = "$2" ] || fail "$3: got
$1
--- expected
$2"
}

# gone PID: waits (5 s at most) for a process to exit.
gone() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "process $1 did not exit"
}

### sheep's start-up errors: the original's wording, no "sheep:" prefix
expect_exit 1 "$SHEEP" -p 0 "$SCRATCH/x"
same "$(cat "$SCRATCH/stderr")" "Invalid port number '0'" "sheep -p 0"
expect_exit 1 "$SHEEP" --cluster-driver corosync "$SCRATCH/x"
same "$(cat "$SCRATCH/stderr")" $'Invalid cluster driver \'corosync\'\nSupported drivers: local sdcluster zookeeper' \
	"sheep --cluster-driver corosync"

### One node, the local driver
PL=$(free_port)
start_sheep "$SCRATCH/local" "$PL"
expect_exit 1 "$SHEEP" -b 127.0.0.1 -p "$PL" "$SCRATCH/other"
grep -q '^cannot listen on 127.0.0.1:'"$PL"': Address already in use' "$SCRATCH/stderr" ||
	fail "a taken port: $(cat "$SCRATCH/stderr")"
"$DOG_BIN" cluster format -c 1 -p "$PL" >/dev/null
"$DOG_BIN" vdi create one 1G -p "$PL"
same "$("$DOG_BIN" node list -p "$PL")" "$HDR_LIST
$(printf '%4d   %-20s\t%2d%11u' 0 "127.0.0.1:$PL" 128 16777343)" "local node list"
same "$("$DOG_BIN" node list -r -a 127.0.0.1 -p "$PL")" "0 127.0.0.1:$PL 128 16777343" \
	"local node list -r"
out=$("$DOG_BIN" node info -p "$PL")
echo "$out" | grep -qxE " 0	$SIZE	$SIZE	$SIZE	 *[0-9]+%" || fail "local node info row: $out"
same "$(echo "$out" | sed -n '1p;4,5p')" "$HDR_INFO

Total virtual image size	1.0 GB" "local node info"
echo "$out" | sed -n 3p | grep -qxE "Total	$SIZE	$SIZE	$SIZE	 *[0-9]+%" || fail "total: $out"
"$DOG_BIN" node info -r -p "$PL" | grep -qxE 'Total [0-9]+ [0-9]+ [0-9]+ [0-9]+% 1073741824' ||
	fail "local node info -r: $("$DOG_BIN" node info -r -p "$PL")"
same "$("$DOG_BIN" node recovery -p "$PL")" "$HDR_RECOVERY" "local node recovery"
same "$("$DOG_BIN" node recovery -r -p "$PL")" "" "local node recovery -r"
grep -q '^Usage: dog node kill <node id> ' <<<"$("$DOG_BIN" node kill --help)" ||
	fail "node kill --help"
expect_exit 64 "$DOG_BIN" node kill 1 -p "$PL"
same "$(cat "$SCRATCH/stderr")" "Invalid node id '1'" "kill of a node that is not listed"
pid=$(cat "$SCRATCH/local/sheep.pid")
expect_exit 0 "$DOG_BIN" node kill 0 -p "$PL"
same "$(cat "$SCRATCH/stdout" "$SCRATCH/stderr")" "" "node kill 0 prints nothing"
gone "$pid"
grep -q 'sheep exits' "$SCRATCH/local/sheep.log" || fail "the killed local sheep did not exit cleanly"

### Three sdcluster nodes
# Raft listens on the port after each control port.
read -ra PORTS <<<"$(cluster_ports 3)"
PORTS=("${PORTS[@]:0:3}")
SORTED=($(printf '%s\n' "${PORTS[@]}" | sort -n))
# Id of node i in dog node list (sorted by address, then port).
id_of() {
	local k
	for k in 0 1 2; do [ "${SORTED[$k]}" != "${PORTS[$1]}" ] || echo "$k"; done
}
start_node() { # i [extra options]
	local i=$1
	shift
	start_sheep "$SCRATCH/n$i" "${PORTS[$i]}" --shards 1 -z "$i" --cluster-driver sdcluster "$@"
}
dogn() { # i dog-args...
	local i=$1
	shift
	"$DOG_BIN" "$@" -a 127.0.0.1 -p "${PORTS[$i]}"
}
joined() { # i count: node i lists count members and has a leader
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && ! dogn "$1" cluster info | grep -q halted
}
members_are() { # i count: and the cluster is formatted
	joined "$@" && dogn "$1" cluster info | grep -q running
}
epochs() { dogn "$1" cluster info | grep -E '^[0-9]{4}-'; }
same_epochs() { # count of epochs expected on every live node given
	local first i
	first=$(epochs "$2")
	[ "$(echo "$first" | wc -l)" -eq "$1" ] || return 1
	for i in "${@:3}"; do [ "$(epochs "$i")" = "$first" ] || return 1; done
}
# "127.0.0.1:P:128, ..." for the given control ports, in node-list order.
nodes_of() { printf '%s\n' "$@" | sort -n | sed 's/.*/127.0.0.1:&:128/' | paste -sd, | sed 's/,/, /g'; }
zone_of_port() { local i; for i in 0 1 2; do [ "${PORTS[$i]}" != "$1" ] || echo "$i"; done; }

start_node 0
start_node 1 --seed "127.0.0.1:${PORTS[0]}"
start_node 2 --seed "127.0.0.1:${PORTS[0]}"
for i in 0 1 2; do until_ok 15 joined "$i" 3; done
dogn 0 cluster format -c 3 >/dev/null || fail "format"
for i in 0 1 2; do until_ok 15 members_are "$i" 3; done
dogn 1 vdi create big 2G || fail "vdi create"

list=$HDR_LIST raw=""
for k in 0 1 2; do
	z=$(zone_of_port "${SORTED[$k]}")
	list+=$'\n'$(printf '%4d   %-20s\t%2d%11u' "$k" "127.0.0.1:${SORTED[$k]}" 128 "$z")
	raw+="$k 127.0.0.1:${SORTED[$k]} 128 $z"$'\n'
done
for i in 0 1 2; do
	same "$(dogn "$i" node list)" "$list" "node list on node $i"
	same "$(dogn "$i" node list -r)" "${raw%$'\n'}" "node list -r on node $i"
	# Recovery of the format's epoch (nothing to copy) ends at once; scripts wait like this.
	for _ in $(seq 50); do [ "$(dogn "$i" node recovery | wc -l)" -eq 2 ] && break; sleep 0.1; done
	same "$(dogn "$i" node recovery)" "$HDR_RECOVERY" "node recovery on node $i"
	out=$(dogn "$i" node info) || fail "node info on node $i: $out"
	same "$(echo "$out" | sed -n '1p;6,7p')" "$HDR_INFO

Total virtual image size	2.0 GB" "node info on node $i"
	for k in 0 1 2; do
		echo "$out" | sed -n "$((k + 2))p" | grep -qxE " $k	$SIZE	$SIZE	$SIZE	 *[0-9]+%" ||
			fail "node info row $k on node $i: $out"
	done
done
# The same through the environment instead of -a/-p.
same "$(SHEEPDOG_DOG_ADDR=127.0.0.1 SHEEPDOG_DOG_PORT=${PORTS[2]} "$DOG_BIN" node list)" "$list" \
	"node list with SHEEPDOG_DOG_PORT"

info0=$(dogn 0 cluster info)
same "$(echo "$info0" | sed -n '1,2p;4,5p')" "Cluster status: running, auto-recovery enabled


Epoch Time           Version [Host:Port:V-Nodes,,,]" "cluster info"
echo "$info0" | sed -n 3p | grep -qE '^Cluster created at [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} ' ||
	fail "cluster info: $info0"
echo "$info0" | sed -n 6p |
	grep -qxE "[0-9-]{10} [0-9:]{8}      1 \[$(nodes_of "${PORTS[@]}")\]" || fail "epoch 1: $info0"
for i in 1 2; do same "$(dogn "$i" cluster info)" "$info0" "cluster info on node $i"; done

# Kill node 2 by its Id, asked through node 0.
victim=$(id_of 2)
pid=$(cat "$SCRATCH/n2/sheep.pid")
expect_exit 0 dogn 0 node kill "$victim"
same "$(cat "$SCRATCH/stdout" "$SCRATCH/stderr")" "" "node kill prints nothing"
gone "$pid"
grep -q 'sheep exits' "$SCRATCH/n2/sheep.log" || fail "node 2 did not exit cleanly"
expect_exit 2 dogn 0 node info
same "$(cat "$SCRATCH/stderr")" "Failed to get information of node $victim (127.0.0.1:${PORTS[2]}): failed to connect to 127.0.0.1:${PORTS[2]}: Connection refused" \
	"node info with a node down"
[ "$(grep -cE "^ [0-9]	$SIZE" "$SCRATCH/stdout")" -eq 2 ] || fail "node info rows: $(cat "$SCRATCH/stdout")"
grep -qx "Total virtual image size	2.0 GB" "$SCRATCH/stdout" || fail "node info total: $(cat "$SCRATCH/stdout")"
# The leader drops a member silent for 5 s: epoch 2 with two nodes, the same on both.
until_ok 15 same_epochs 2 0 1
epochs 1 | head -1 | grep -qxE "[0-9-]{10} [0-9:]{8}      2 \[$(nodes_of "${PORTS[0]}" "${PORTS[1]}")\]" ||
	fail "epoch 2: $(epochs 1)"
same "$(dogn 1 node list -r | wc -l)" 2 "node list after the kill"
expect_exit 64 dogn 0 node kill 2
same "$(cat "$SCRATCH/stderr")" "Invalid node id '2'" "kill of an Id past the list"
expect_exit 64 dogn 0 node kill x
same "$(cat "$SCRATCH/stderr")" "Invalid node id 'x', please specify a numeric value" "kill x"
expect_exit 64 dogn 0 node kill
same "$(cat "$SCRATCH/stderr")" "please specify -l option or node id" "kill without an Id"

# It comes back (no --seed: it has its state): epoch 3, three nodes.
start_node 2
until_ok 15 same_epochs 3 0 1 2
before=$(epochs 0)

# cluster shutdown through node 1: every node exits cleanly, nothing printed.
pids=$(cat "$SCRATCH"/n[012]/sheep.pid)
expect_exit 0 dogn 1 cluster shutdown
same "$(cat "$SCRATCH/stdout" "$SCRATCH/stderr")" "" "cluster shutdown prints nothing"
for p in $pids; do gone "$p"; done
for i in 0 1 2; do
	grep -q 'sheep exits' "$SCRATCH/n$i/sheep.log" || fail "node $i did not exit cleanly"
done
expect_exit 1 dogn 1 cluster shutdown
grep -q '^failed to execute request$' "$SCRATCH/stderr" || fail "shutdown of nothing: $(cat "$SCRATCH/stderr")"

# All back: the same VDIs, the same epochs.
for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do until_ok 15 members_are "$i" 3; done
for i in 0 1 2; do
	dogn "$i" vdi list -r | grep -q '^= big 0 2147483648 ' || fail "vdi list on node $i: $(dogn "$i" vdi list -r)"
done
same "$(epochs 2)" "$before" "epochs after the restart"
echo "PASS: $TEST_NAME"
