#!/bin/bash
# dog vdi alter-copy on a three-node cluster: a VDI of two copies gets three (every node gets
# its copy, the bytes equal), then one (the extra copies go), readable through every node all
# along, and still after a node is SIGKILLed while it has three. Only standalone, replicated
# VDIs change; the request is refused with the reason otherwise.
source "$(dirname "$0")/functions.sh"
need qemu-io nbdcopy

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
S=$SCRATCH
ready() { cluster_ready 3; }
# recovered: no node has objects left to recover.
recovered() {
	for i in "$@"; do
		[ "$(dogn $i node recovery | wc -l)" -eq 2 ] || return 1
	done
}
# copies_of_vol N NODES...: every object of vol is on exactly N of those nodes, equal.
copies_of_vol() {
	local n=$1 f i h
	shift
	for f in $(for i in "$@"; do ls "$S/n$i/obj"; done | grep -E "^00$VID" | sort -u); do
		h=()
		for i in "$@"; do [ -f "$S/n$i/obj/$f" ] && h+=("$S/n$i/obj/$f"); done
		[ ${#h[@]} -eq "$n" ] || { echo "$f on ${#h[@]} nodes"; return 1; }
		for x in "${h[@]:1}"; do same_object "${h[0]}" "$x" || { echo "$f differs"; return 1; }; done
	done
}
reads_ok() {
	for i in "$@"; do
		nbdcopy "nbd://127.0.0.1:${NBDP[$i]}/vol" - | cmp - "$S/a" || return 1
	done
}

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
until_ok 20 ready
dogn 1 cluster format -c 2 >/dev/null || fail "format"
until_ok 10 dogn 2 vdi create vol 32M
until_ok 10 dogn 0 vdi list vol
VID=$(dogn 0 vdi list -r vol | awk '{print $8}')
random_file "$S/a" 32
dogn 0 vdi write vol <"$S/a" || fail "write"
copies_of_vol 2 0 1 2 || fail "before: not 2 copies"
epoch0=$(dogn 0 cluster info | grep -cE '^[0-9]{4}-')

# Three copies: a new epoch with the same nodes, and every node gets every object.
dogn 1 vdi alter-copy vol -c 3 || fail "alter-copy -c 3"
dogn 0 vdi list -r vol | grep -q "^= vol .* 3  22$" || fail "copies not 3: $(dogn 0 vdi list -r vol)"
[ "$(dogn 2 cluster info | grep -cE '^[0-9]{4}-')" -eq $((epoch0 + 1)) ] || fail "no new epoch"
until_ok 30 recovered 0 1 2
until_ok 30 copies_of_vol 3 0 1 2
reads_ok 0 1 2 || fail "reads after -c 3"
# A write now lands on all three.
random_file "$S/b" 1
dogn 2 vdi write vol 5M <"$S/b" || fail "write with 3 copies"
dd if="$S/b" of="$S/a" bs=1M seek=5 conv=notrunc status=none
copies_of_vol 3 0 1 2 || fail "a write did not reach three copies"
# SIGKILL one node: the other two still have everything.
kill_sheep "$S/n1" KILL
until_ok 30 dogn 0 vdi read vol 0 4096
reads_ok 0 2 || fail "reads with a node killed"
start_node 1 --seed "127.0.0.1:$P0"
until_ok 30 ready
until_ok 30 recovered 0 1 2

# One copy: the extra copies go once every node has recovered the new epoch.
dogn 0 vdi alter-copy vol -c 1 || fail "alter-copy -c 1"
until_ok 30 recovered 0 1 2
until_ok 30 copies_of_vol 1 0 1 2
reads_ok 0 1 2 || fail "reads after -c 1"

# Refusals.
dogn 0 vdi alter-copy vol -c 1 || fail "the same count is not a change"
expect_exit 1 dogn 0 vdi alter-copy vol -c 4
expect_stderr "zone"
dogn 0 vdi snapshot vol -s s1
expect_exit 1 dogn 0 vdi alter-copy vol -c 2
expect_stderr "Only standalone vdi supports changing redundancy level"
expect_exit 64 dogn 0 vdi alter-copy vol
expect_exit 5 dogn 0 vdi alter-copy nosuch -c 2
echo "PASS: $TEST_NAME"
