#!/bin/bash
# A real network partition: three sheep in three network namespaces on one bridge. The node that
# started the cluster (the leader) is cut off: it must refuse VDI changes with the original's
# "IO has halted" instead of diverging, while the other two go on at a new epoch. After the
# heal it joins again and every node shows one history: the same VDIs and the same epoch log.
source "$(dirname "$0")/functions.sh"

[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || { echo "SKIP: needs root and ip(8)"; exit 77; }
TAG=sd$$
NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
BR=${TAG}br
ip netns add "${TAG}n1" 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }

teardown_net() {
	for i in 1 2 3; do
		if [ -f "$SCRATCH/n$i/sheep.pid" ]; then
			kill -9 "$(cat "$SCRATCH/n$i/sheep.pid")" 2>/dev/null || true
		fi
		ip netns del "${TAG}n$i" 2>/dev/null || true
	done
	ip link del "$BR" 2>/dev/null || true
}
CLEANUP_FNS+=(teardown_net)

ip link add "$BR" type bridge && ip link set "$BR" up
for i in 1 2 3; do
	[ "$i" -eq 1 ] || ip netns add "${TAG}n$i"
	ip link add "${TAG}v$i" type veth peer name "${TAG}b$i"
	ip link set "${TAG}v$i" netns "${TAG}n$i"
	ip link set "${TAG}b$i" master "$BR" && ip link set "${TAG}b$i" up
	ip -n "${TAG}n$i" addr add "$NET.$i/24" dev "${TAG}v$i"
	ip -n "${TAG}n$i" link set "${TAG}v$i" up && ip -n "${TAG}n$i" link set lo up
done

# on i COMMAND...: runs a command on host i.
on() {
	local i=$1
	shift
	ip netns exec "${TAG}n$i" "$@"
}

dogn() { # i dog arguments...
	local i=$1
	shift
	on "$i" "$DOG_BIN" "$@" -a "$NET.$i" -p 7000
}

start_host() { # i [extra options]
	local i=$1
	shift
	on "$i" "$SHEEP" -b "$NET.$i" -p 7000 --shards 1 --cluster-driver sdcluster "$@" \
		"$SCRATCH/n$i" || fail "sheep did not start on host $i"
}

members_are() { # i count
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && ! dogn "$1" cluster info | grep -q halted
}

halted() { dogn "$1" cluster info | grep -q "IO has halted"; }

same_everywhere() { # what: "vdi list -r" or "cluster info"
	local a b c
	a=$(dogn 1 $1 | grep -v '^Cluster status') && b=$(dogn 2 $1 | grep -v '^Cluster status') &&
		c=$(dogn 3 $1 | grep -v '^Cluster status') && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}

start_host 1
start_host 2 --seed "$NET.1:7000"
start_host 3 --seed "$NET.1:7000"
for i in 1 2 3; do until_ok 20 members_are "$i" 3; done
dogn 2 cluster format -c 2 >/dev/null || fail "format"
dogn 1 vdi create before 1G || fail "create before the partition"

# Cut host 1 off.
ip -n "${TAG}n1" link set "${TAG}v1" down
until_ok 10 halted 1
expect_exit 2 dogn 1 vdi create minority 1G
expect_stderr "IO has halted as there are not enough living nodes"
until_ok 15 members_are 2 2
dogn 3 vdi create majority 1G || fail "the majority must serve changes"
dogn 2 vdi delete before || fail "delete on the majority side"
expect_exit 2 dogn 1 vdi delete before
expect_stderr "IO has halted"

# Heal: host 1 joins again and converges.
ip -n "${TAG}n1" link set "${TAG}v1" up
for i in 1 2 3; do until_ok 20 members_are "$i" 3; done
until_ok 10 same_everywhere "vdi list -r"
until_ok 10 same_everywhere "cluster info"
list=$(dogn 1 vdi list -r)
grep -q '^= majority ' <<<"$list" || fail "host 1 misses the majority's VDI: $list"
grep -qE '^= (before|minority) ' <<<"$list" && fail "host 1 diverged: $list"
[ "$(dogn 1 cluster info | grep -c '^20')" -eq 3 ] ||
	fail "epochs 1 (three), 2 (two), 3 (three again): $(dogn 1 cluster info)"
dogn 1 vdi create after 1G || fail "host 1 serves changes after the heal"
echo "PASS: $TEST_NAME"
