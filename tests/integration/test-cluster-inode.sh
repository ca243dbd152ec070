#!/bin/bash
# Inode objects in a cluster (sdcluster): three sheep, two copies. Each VDI's inode object (the
# original's header and data_vdi_id map) is placed and replicated like a data object: after a
# create, writes, a resize, a SIGKILL of a holder and a delete, the nodes that should hold it
# hold byte-identical copies whose header and map say what `dog vdi list` says.
source "$(dirname "$0")/functions.sh"
need nbdsh

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
ready() { # nodes...
	for i in "$@"; do
		[ "$(dogn "$i" node list -r | wc -l)" -eq $# ] && ! dogn "$i" cluster info | grep -q halted ||
			return 1
	done
}
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j "$2" -N8 "$1" | tr -d ' '; }
# The inode header is 4664 bytes; data_vdi_id[i] follows it, 4 bytes each (past the end of the
# file: never written, 0).
map_at() {
	local v
	v=$(u32 "$1" $((4664 + 4 * $2)))
	echo "${v:-0}"
}

# The copies of VDI $1's inode object on nodes $2.., one per line.
inode_copies() {
	local vid=$1 i
	shift
	for i in "$@"; do
		f="$SCRATCH/n$i/obj/$(printf '80%06x00000000' "0x$vid")"
		[ -f "$f" ] && echo "$f"
	done
}
# True when nodes $3.. hold exactly $2 identical copies of VDI $1's inode object, naming it and
# with the size and map entries the checks in $CHECK (a shell condition over "$f") want.
inode_ok() {
	local vid=$1 want=$2
	shift 2
	mapfile -t C < <(inode_copies "$vid" "$@")
	[ ${#C[@]} -eq "$want" ] || return 1
	[ "$want" -eq 0 ] && return 0
	cmp -s "${C[0]}" "${C[1]}" || return 1
	f=${C[0]}
	[ "$(head -c 256 "$f" | tr -d '\0')" = disk ] || return 1
	[ "$(u32 "$f" 560)" -eq $((0x$vid)) ] || return 1
	eval "$CHECK"
}
wait_inode() { # what vid want nodes...
	local what=$1
	shift
	for _ in $(seq 100); do inode_ok "$@" && return 0; sleep 0.1; done
	mapfile -t C < <(inode_copies "$1" "${@:3}")
	fail "$what: inode copies ${C[*]:-none}; size $( [ ${#C[@]} -gt 0 ] && u64 "${C[0]}" 536)"
}

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
for _ in $(seq 200); do ready 0 1 2 && break; sleep 0.1; done
ready 0 1 2 || fail "the three nodes did not form a cluster"
dogn 1 cluster format -c 2 >/dev/null || fail "format"
for _ in $(seq 50); do dogn 2 vdi create disk 64M 2>/dev/null && break; sleep 0.1; done
vid=$(dogn 0 vdi list -r disk | awk '{print $8}')
[ -n "$vid" ] || fail "no VDI disk"

# Created: the header on two nodes, the map all unallocated.
CHECK='[ "$(u64 "$f" 536)" -eq $((64 << 20)) ] && [ "$(map_at "$f" 0)" -eq 0 ]'
wait_inode "after create" "$vid" 2 0 1 2

# Written through NBD on two nodes: the map names the VDI for objects 0, 2 and 15 only.
nbdsh -u "nbd://127.0.0.1:$N0/disk" -c 'h.pwrite(b"a" * 4096, 0); h.pwrite(b"b" * 512, 8 << 20)' ||
	fail "NBD writes through node 0"
nbdsh -u "nbd://127.0.0.1:$N2/disk" -c 'h.pwrite(b"c" * 4096, (60 << 20) + 4096); h.flush()' ||
	fail "NBD write through node 2"
CHECK='[ "$(map_at "$f" 0)" -eq $((0x$vid)) ] && [ "$(map_at "$f" 1)" -eq 0 ] &&
	[ "$(map_at "$f" 2)" -eq $((0x$vid)) ] && [ "$(map_at "$f" 15)" -eq $((0x$vid)) ]'
wait_inode "after writes" "$vid" 2 0 1 2

# Resized: the header follows.
dogn 1 vdi resize disk 128M || fail "resize"
CHECK='[ "$(u64 "$f" 536)" -eq $((128 << 20)) ] && [ "$(map_at "$f" 15)" -eq $((0x$vid)) ]'
wait_inode "after resize" "$vid" 2 0 1 2

# A holder killed: the two nodes left hold it (two copies, two nodes), and a later write's map
# entry reaches both.
mapfile -t C < <(inode_copies "$vid" 0 1 2)
victim=$(basename "$(dirname "$(dirname "${C[0]}")")")
victim=${victim#n}
kill -9 "$(cat "$SCRATCH/n$victim/sheep.pid")"
alive=()
for i in 0 1 2; do [ "$i" -ne "$victim" ] && alive+=("$i"); done
for _ in $(seq 150); do ready "${alive[@]}" && break; sleep 0.1; done
ready "${alive[@]}" || fail "the cluster did not go on without node $victim"
nbdsh -u "nbd://127.0.0.1:${NBDP[${alive[0]}]}/disk" -c 'h.pwrite(b"d" * 4096, 100 << 20); h.flush()' ||
	fail "NBD write after the kill"
CHECK='[ "$(u64 "$f" 536)" -eq $((128 << 20)) ] && [ "$(map_at "$f" 2)" -eq $((0x$vid)) ] &&
	[ "$(map_at "$f" 25)" -eq $((0x$vid)) ]'
wait_inode "after SIGKILL of node $victim" "$vid" 2 "${alive[@]}"

# Deleted: no copy of the inode is left on the live nodes.
dogn "${alive[1]}" vdi delete disk || fail "delete"
wait_inode "after delete" "$vid" 0 "${alive[@]}"
echo "PASS: $TEST_NAME"
