#!/bin/bash
# Background recovery and rebalance (sdcluster, two copies), with no client reading the objects
# concerned: after a node is SIGKILLed and removed, the survivors copy what it held; when it
# comes back it takes its share again, the bytes written while it was away included; a fourth
# node joining takes its share. Each time `dog node recovery` ends with its two header lines,
# every object ends up on exactly two nodes with the same bytes (copies no longer held are
# removed once every node has recovered), and the VDI reads back through every node.
source "$(dirname "$0")/functions.sh"
need nbdsh qemu-img

read -ra ALL <<<"$(cluster_ports 4)"
PORTS=("${ALL[@]:0:4}")
NBDP=("${ALL[@]:4:4}")
serving() { # node count
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && ! dogn "$1" cluster info | grep -q halted
}
recovered() { # nodes...: none of them is recovering, and its copies agree
	local i
	for i in "$@"; do
		[ "$(dogn "$i" node recovery | wc -l)" -eq 2 ] || return 1
	done
	copies_agree 2 "$@" >/dev/null
}
wait_recovered() { # what nodes...
	local what=$1 why
	shift
	for _ in $(seq 300); do recovered "$@" && return 0; sleep 0.1; done
	why=$(copies_agree 2 "$@") || true
	fail "$what: recovery did not end with two equal copies of every object: $why
$(for i in "$@"; do dogn "$i" node recovery; done)"
}
write_at() { # node MiB-offset file
	nbdsh -u "nbd://127.0.0.1:${NBDP[$1]}/disk" \
		-c "h.pwrite(open('$3', 'rb').read(), $2 << 20); h.flush()" || fail "write through node $1"
}
check_image() { # node
	qemu-img convert -f raw -O raw "nbd://127.0.0.1:${NBDP[$1]}/disk" "$SCRATCH/img" ||
		fail "read through node $1"
	cmp "$SCRATCH/img" "$SCRATCH/expect" || fail "node $1 serves other bytes than written"
}

for bad in max=1 max=0,interval=5 max=x,interval=1 speed=3; do
	expect_exit 1 "$SHEEP" -R "$bad" "$SCRATCH/bad"
	expect_stderr "^Invalid recovery throttle '$bad': use max=N,interval=MS"
done

start_node 0 -R max=64,interval=100
start_node 1 --seed "127.0.0.1:${PORTS[0]}"
start_node 2 --seed "127.0.0.1:${PORTS[0]}"
for i in 0 1 2; do until_ok 20 serving $i 3; done
dogn 0 cluster format -c 2 >/dev/null || fail "format"
dogn 0 vdi create disk 48M || fail "create"
for i in 0 1 2; do until_ok 5 serving $i 3; done
head -c $((48 << 20)) /dev/zero >"$SCRATCH/expect"
random_file "$SCRATCH/a" 32
write_at 0 0 "$SCRATCH/a"
dd if="$SCRATCH/a" of="$SCRATCH/expect" conv=notrunc status=none
wait_recovered "at the start" 0 1 2

# Node 2 dies: once it is removed, nodes 0 and 1 hold every object, with no client reading.
kill_sheep "$SCRATCH/n2"
until_ok 15 serving 0 2
random_file "$SCRATCH/b" 12
write_at 1 20 "$SCRATCH/b"
dd if="$SCRATCH/b" of="$SCRATCH/expect" bs=1M seek=20 conv=notrunc status=none
wait_recovered "after node 2 left" 0 1
grep -q "recovery: epoch [0-9]* done" "$SCRATCH/n0/sheep.log" || fail "node 0 logged no recovery"

# Node 2 is back with recovery paused: every node is listed in recovery (at 0%) and node 2 lacks
# its share, until recovery is enabled again (throttled: 2 objects per 50 ms). Bad throttles
# are refused.
[ "$(dogn 0 cluster recover disable)" = "Cluster recovery: disable" ] || fail "recover disable"
dogn 1 cluster info | grep -q "^Cluster status: running, auto-recovery disabled" ||
	fail "cluster info on node 1 does not say recovery is disabled: $(dogn 1 cluster info)"
start_node 2
for i in 0 1 2; do until_ok 20 serving $i 3; done
sleep 1
dogn 0 node recovery | grep -q "^ *[0-9]   127.0.0.1:${PORTS[2]} .* 0.0%$" ||
	fail "node 2 is not listed in recovery while it is paused: $(dogn 0 node recovery)"
! copies_agree 2 0 1 2 >/dev/null || fail "objects moved while recovery was disabled"
expect_exit 64 "$DOG_BIN" node recovery set-throttle 0 5 -p "${PORTS[0]}"
grep -qx "Invalid interval max (0), interval (5)" "$SCRATCH/stderr" || fail "$(cat "$SCRATCH/stderr")"
expect_exit 64 "$DOG_BIN" node recovery set-throttle 4294967296 5 -p "${PORTS[0]}"
grep -qx "Invalid max (4294967296)" "$SCRATCH/stderr" || fail "$(cat "$SCRATCH/stderr")"
dogn 1 node recovery set-throttle 2 50 || fail "set-throttle"
[ "$(dogn 2 node recovery get-throttle 2>&1)" = "max (2), interval (50)" ] ||
	fail "get-throttle on node 2: $(dogn 2 node recovery get-throttle 2>&1)"
[ "$(dogn 2 cluster recover enable)" = "Cluster recovery: enable" ] || fail "recover enable"
wait_recovered "after node 2 came back" 0 1 2
[ -n "$(ls "$SCRATCH/n2/obj" | grep -E '^00')" ] || fail "node 2 holds nothing after its return"
grep -q "pulled object" "$SCRATCH/n2/sheep.log" 2>/dev/null ||
	grep -q "recovery: epoch [0-9]* done" "$SCRATCH/n2/sheep.log" || fail "node 2 did not recover"

# A fourth node joins: it takes its share, the others let theirs go.
start_node 3 --seed "127.0.0.1:${PORTS[0]}"
for i in 0 1 2 3; do until_ok 20 serving $i 4; done
wait_recovered "after node 3 joined" 0 1 2 3
[ -n "$(ls "$SCRATCH/n3/obj" | grep -E '^00')" ] || fail "node 3 took no share of the objects"
for i in 0 1 2 3; do check_image $i; done
echo "PASS: $TEST_NAME"
