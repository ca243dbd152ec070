#!/bin/bash
# sdcluster membership and VDI metadata with three real sheep on loopback: joins, one VDI table
# and one epoch log seen from every node, two racing creators of one name get one VDI, SIGKILL of
# the leader (the others go on at a new epoch), the killed node's return (it catches up with what
# changed while it was away), and a restart of the whole cluster.
source "$(dirname "$0")/functions.sh"

# Raft listens on the port after each control port.
read -r P0 P1 P2 _ <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")

start_node() { # i [extra options]
	local i=$1
	shift
	start_sheep "$SCRATCH/n$i" "${PORTS[$i]}" --shards 1 -z "$i" --cluster-driver sdcluster "$@"
}

# dog on node i
dogn() {
	local i=$1
	shift
	"$DOG_BIN" "$@" -p "${PORTS[$i]}"
}

members_are() { # i count: node i lists count members and serves changes
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && ! dogn "$1" cluster info | grep -q halted
}

same_vdi_lists() {
	local a b c
	a=$(dogn 0 vdi list -r) && b=$(dogn 1 vdi list -r) && c=$(dogn 2 vdi list -r) &&
		[ "$a" = "$b" ] && [ "$b" = "$c" ] && [ -n "$a" ]
}

same_epochs() {
	local a b c
	a=$(dogn 0 cluster info | grep '^20') && b=$(dogn 1 cluster info | grep '^20') &&
		c=$(dogn 2 cluster info | grep '^20') && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
for i in 0 1 2; do until_ok 15 members_are "$i" 3; done

# Format through a node that did not start the cluster.
dogn 1 cluster format -c 3 >/dev/null || fail "format through node 1"
until_ok 5 same_epochs
# Nodes are listed by address, then port.
nodes_of() { printf '%s\n' "$@" | sort -n | sed 's/.*/127.0.0.1:&:128/' | paste -sd, | sed 's/,/, /g'; }
dogn 2 cluster info | grep -qF " 1 [$(nodes_of "$P0" "$P1" "$P2")]" ||
	fail "epoch 1 should list the three nodes: $(dogn 2 cluster info | tail -3)"

# Changes from every node, one table everywhere.
dogn 0 vdi create alpha 1G || fail "create alpha on node 0"
dogn 1 vdi create beta 2G || fail "create beta on node 1"
dogn 2 vdi create gamma 3G || fail "create gamma on node 2"
dogn 2 vdi setattr alpha owner carol || fail "setattr through node 2"
dogn 1 vdi resize beta 4G || fail "resize through node 1"
until_ok 5 same_vdi_lists
[ "$(dogn 0 vdi getattr alpha owner)" = carol ] || fail "getattr through node 0"
dogn 0 vdi list -r | grep -q '^= beta 0 4294967296 ' || fail "beta is not 4 GiB: $(dogn 0 vdi list -r)"

# Two creators of one name at once, through two nodes: one VDI.
rc0=0 rc2=0
dogn 0 vdi create race 1G >"$SCRATCH/race0" 2>&1 & pid0=$!
dogn 2 vdi create race 1G >"$SCRATCH/race2" 2>&1 & pid2=$!
wait $pid0 || rc0=$?
wait $pid2 || rc2=$?
[ $((rc0 == 0)) -ne $((rc2 == 0)) ] ||
	fail "racing creates: exits $rc0 and $rc2 ($(cat "$SCRATCH/race0" "$SCRATCH/race2"))"
grep -q "already exists" "$SCRATCH/race0" "$SCRATCH/race2" || fail "the loser should say so"
until_ok 5 same_vdi_lists
[ "$(dogn 1 vdi list -r | grep -c '^= race ')" -eq 1 ] || fail "race: not exactly one VDI"

dogn 0 vdi delete gamma || fail "delete gamma through node 0"
until_ok 5 same_vdi_lists

# SIGKILL node 0 (it started the cluster and is most likely the leader).
kill_sheep "$SCRATCH/n0"
until_ok 15 members_are 1 2
until_ok 5 members_are 2 2
dogn 1 cluster info | grep -qF " 2 [$(nodes_of "$P1" "$P2")]" ||
	fail "epoch 2 should list nodes 1 and 2: $(dogn 1 cluster info | tail -3)"
dogn 2 vdi create delta 1G || fail "create with node 0 gone"
dogn 1 vdi delete alpha || fail "delete with node 0 gone"

# Node 0 returns (no --seed: it knows the members) and catches up.
start_node 0
until_ok 20 members_are 0 3
until_ok 5 same_vdi_lists
until_ok 5 same_epochs
dogn 0 vdi list -r | grep -q '^= delta ' || fail "node 0 missed delta: $(dogn 0 vdi list -r)"
dogn 0 vdi list -r | grep -q '^= alpha ' && fail "node 0 still lists the deleted alpha"
[ "$(dogn 0 cluster info | grep -c '^20')" -eq 3 ] || fail "three epochs: $(dogn 0 cluster info)"

# The whole cluster restarts: the same VDIs and epochs, changes work again.
before=$(dogn 1 vdi list -r)
for i in 0 1 2; do kill_sheep "$SCRATCH/n$i"; done
SHEEP_PIDS=()
for i in 0 1 2; do start_node "$i"; done
for i in 0 1 2; do until_ok 20 members_are "$i" 3; done
until_ok 5 same_vdi_lists
[ "$(dogn 2 vdi list -r)" = "$before" ] || fail "VDIs changed across the restart"
dogn 2 vdi create epsilon 1G || fail "create after the restart"
echo "PASS: $TEST_NAME"
