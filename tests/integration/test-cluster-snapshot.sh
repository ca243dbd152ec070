#!/bin/bash
# Snapshots on a three-node cluster with two copies, through every node: a chain checked byte
# for byte at every step; fio verify writing through NBD while a snapshot is taken every second
# (nothing lost, every snapshot's copies equal); clone writes that leave the snapshot alone; a
# node killed with SIGKILL while snapshots and clones are deleted, which frees its copies when
# it comes back; and every node's objects gone once everything is deleted.
source "$(dirname "$0")/functions.sh"
# Long and loaded: CI runs it in the plain build, beside the ASan suite; the sanitizers see the
# same code in test-snapshot, test-cluster-lock and test-cluster-alter-copy (and it passes under
# them when run alone: BUILD=build-asan SD_ASAN_LONG=1).
[[ $BUILD != *asan* || -n ${SD_ASAN_LONG:-} ]] || { echo "SKIP: $TEST_NAME runs in the plain build in CI"; exit 77; }
need qemu-io nbdcopy fio
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
S=$SCRATCH
ready() { cluster_ready 3; }
# same_as NODE EXPORT FILE: the export read through NODE's NBD equals FILE.
same_as() {
	nbdcopy "$(nbd "$1" "$2")" - | cmp - "$3" || fail "$2 through node $1 differs from $3"
}
overlay() {
	dd if="$3" of="$1" bs=1M seek="$(numfmt --from=iec "$2")" oflag=seek_bytes conv=notrunc \
		status=none
}
# no_objects_of VID...: none of those VDIs' objects is left on any node.
no_objects_of() {
	local v
	for v in "$@"; do
		ls "$S"/n{0,1,2}/obj 2>/dev/null | grep -qiE "^(00|80)$v" && return 1
	done
	return 0
}

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
until_ok 20 ready
dogn 1 cluster format -c 2 >/dev/null || fail "format"
until_ok 10 dogn 2 vdi create vol 32M
until_ok 10 dogn 0 vdi list vol

# A chain, a step through each node.
random_file "$S/a" 32
dogn 0 vdi write vol <"$S/a" || fail "write through node 0"
dogn 1 vdi snapshot vol -s s1 || fail "snapshot through node 1"
random_file "$S/b" 5
qemu-io -f raw -c "write -s $S/b 6M 5M" -c flush "$(nbd 2 vol)" >/dev/null || fail "NBD write via 2"
cp "$S/a" "$S/exp2"
overlay "$S/exp2" 6M "$S/b"
for i in 0 1 2; do
	same_as $i vol@s1 "$S/a"
done
same_as 1 vol "$S/exp2"
dogn 2 vdi snapshot vol -s s2 || fail "snapshot through node 2"
random_file "$S/c" 1
dogn 0 vdi write vol 20M <"$S/c" || fail "dog write (copy-up) through node 0"
cp "$S/exp2" "$S/exp3"
overlay "$S/exp3" 20M "$S/c"
for i in 0 1 2; do
	same_as $i vol@s1 "$S/a"
	same_as $i vol@s2 "$S/exp2"
	same_as $i vol "$S/exp3"
	dogn $i vdi read vol -s s2 | cmp - "$S/exp2" || fail "dog vdi read -s s2 via $i"
done
copies_agree 2 0 1 2 || fail "copies after the chain"

# fio verify through node 1 (four connections) while node 2 takes a snapshot every second.
(
	for k in 1 2 3 4; do
		sleep 0.8
		dogn 2 vdi snapshot vol -s f$k >/dev/null || echo "snapshot f$k failed" >>"$S/snapfail"
	done
) &
SNAPPER=$!
fio --name=verify --ioengine=nbd --uri="$(nbd 1 vol)" --numjobs=4 --size=6M --offset_increment=8M \
	--rw=randwrite --bsrange=4k-64k --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--verify_state_save=0 --loops=6 --group_reporting --output="$S/fio.out" ||
	fail "fio verify failed: $(tail -20 "$S/fio.out")"
wait $SNAPPER
grep -q "err= 0" "$S/fio.out" || fail "fio reported errors: $(cat "$S/fio.out")"
[ ! -e "$S/snapfail" ] || fail "$(cat "$S/snapfail")"
grep -h "was snapshotted" "$S"/n1/sheep.log >/dev/null || fail "no connection followed a snapshot"
[ "$(dogn 0 vdi list -r vol | grep -c '^s')" -eq 6 ] || fail "snapshots: $(dogn 0 vdi list -r)"
# Objects writes created in a VDI just frozen, which they could not record, are swept away in
# the background: the comparison waits until the object directories are quiet.
quiet() {
	local a b
	a=$(ls "$S"/n{0,1,2}/obj)
	sleep 1.5
	b=$(ls "$S"/n{0,1,2}/obj)
	[ "$a" = "$b" ]
}
sleep 2
until_ok 30 quiet
copies_agree 2 0 1 2 || fail "copies after fio and snapshots"
# Every snapshot reads the same through every node.
for t in s1 s2 f1 f3 f4; do
	nbdcopy "$(nbd 0 vol@$t)" "$S/snap-$t" || fail "read vol@$t"
	for i in 1 2; do same_as $i "vol@$t" "$S/snap-$t"; done
done
cmp "$S/snap-s1" "$S/a" && cmp "$S/snap-s2" "$S/exp2" || fail "old snapshots changed"

# A clone of f3: writes to it leave f3 alone.
dogn 0 vdi clone vol cl -s f3 || fail "clone"
random_file "$S/d" 3
qemu-io -f raw -c "write -s $S/d 5M 3M" -c flush "$(nbd 2 cl)" >/dev/null || fail "write to clone"
cp "$S/snap-f3" "$S/expcl"
overlay "$S/expcl" 5M "$S/d"
for i in 0 1 2; do
	same_as $i cl "$S/expcl"
	same_as $i vol@f3 "$S/snap-f3"
done

# SIGKILL node 2, delete the clone and two snapshots meanwhile, restart it: it frees its copies.
CL=$(dogn 0 vdi list -r cl | awk '{print $8}')
F1=$(dogn 0 vdi list -r vol | awk '{ if ($0 ~ / f1 22$/) print $8 }')
[ -n "$CL" ] && [ -n "$F1" ] || fail "ids of cl and f1"
kill_sheep "$S/n2" KILL
until_ok 30 dogn 0 vdi delete cl
dogn 0 vdi delete vol -s f1 || fail "delete f1 with node 2 down"
dogn 1 vdi delete vol -s f2 || fail "delete f2 with node 2 down"
same_as 0 vol@f3 "$S/snap-f3"
start_node 2 --seed "127.0.0.1:$P0"
until_ok 30 ready
# The clone's objects are all gone; of f1's, only those later snapshots still share stay, on
# node 2 no more than on the others.
f1_freed() {
	local f
	for f in $(ls "$S/n2/obj" | grep -iE "^(00|80)$F1"); do
		[ -e "$S/n0/obj/$f" ] || [ -e "$S/n1/obj/$f" ] || return 1
	done
}
until_ok 30 no_objects_of "$CL"
until_ok 30 f1_freed
same_as 2 vol@f3 "$S/snap-f3"
same_as 2 vol@s1 "$S/a"

# An incremental backup through one node, restored through another, onto the older snapshot.
nbdcopy "$(nbd 2 vol@f4)" "$S/snap-f4b" && cmp "$S/snap-f4" "$S/snap-f4b" || fail "f4 changed"
dogn 1 vdi backup vol -F f3 -s f4 >"$S/inc" || fail "backup through node 1"
dogn 2 vdi restore vol -s f3 <"$S/inc" || fail "restore through node 2"
for i in 0 1 2; do same_as $i vol "$S/snap-f4"; done

# Everything deleted: no object left on any node.
for t in s1 s2 f3 f4; do dogn $((RANDOM % 3)) vdi delete vol -s $t || fail "delete $t"; done
dogn 1 vdi delete vol || fail "delete vol"
gone() { local l; l=$(find "$S"/n{0,1,2}/obj -type f); [ -z "$l" ] || { echo "left: $l" | tr "\n" " "; return 1; }; }
until_ok 30 gone
[ -z "$(dogn 2 vdi list -r)" ] || fail "VDIs left: $(dogn 2 vdi list -r)"
echo "PASS: $TEST_NAME"
