#!/bin/bash
# Replicated I/O across three real sheep before the control plane exists: each node gets the same
# static cluster view through the TEST ONLY variable SHEEP_TEST_STATIC_VIEW (cluster_view.h), in
# three zones with two copies of each object. Writes through one node must land on both holders
# byte for byte; every node reads them back through NBD and dog (its own map does not name them:
# it asks the holders); reads survive a dead holder; writes to a dead holder's objects fail.
. "$(dirname "$0")/functions.sh"
need qemu-io
need qemu-img

P1=$(free_port); P2=$(free_port); P3=$(free_port)
N1=$(free_port); N2=$(free_port); N3=$(free_port)
export SHEEP_TEST_STATIC_VIEW="4242,1,2,127.0.0.1:$P1:1,127.0.0.1:$P2:2,127.0.0.1:$P3:3"
i=0
for p in $P1 $P2 $P3; do
	i=$((i + 1))
	n=$(eval echo \$N$i)
	start_sheep "$SCRATCH/n$i" "$p" -z $i --nbd-port "$n" -l debug
	"$DOG_BIN" cluster format -c 1 -p "$p" >/dev/null
	# Each node creates the VDI alone: the same name gives the same id on each.
	"$DOG_BIN" vdi create -p "$p" disk 64M
done
unset SHEEP_TEST_STATIC_VIEW
grep -q "static cluster view of 3 members" "$SCRATCH/n1/sheep.log" || fail "no static view"

# 24 MiB of random data through node 1 (dog vdi write: the control thread's gateway path).
random_file "$SCRATCH/a" 24
"$DOG_BIN" vdi write -p "$P1" disk 1000 < "$SCRATCH/a" || fail "write through node 1"

# Every data object is on exactly two nodes, the same bytes on both.
objs=0
for f in $(cd "$SCRATCH" && ls n1/obj n2/obj n3/obj | grep -E '^00' | sort -u); do
	holders=()
	for i in 1 2 3; do [ -f "$SCRATCH/n$i/obj/$f" ] && holders+=("$SCRATCH/n$i/obj/$f"); done
	[ ${#holders[@]} -eq 2 ] || fail "object $f is on ${#holders[@]} nodes, not 2"
	cmp "${holders[0]}" "${holders[1]}" || fail "the copies of $f differ"
	objs=$((objs + 1))
done
[ $objs -eq 7 ] || fail "$objs data objects, expected 7"

# Each node reads it all back: through NBD and through dog vdi read (the control thread).
for i in 1 2 3; do
	n=$(eval echo \$N$i)
	qemu-io -f raw -c "read -v 1000 24M" "nbd://127.0.0.1:$n/disk" >/dev/null || fail "read via node $i"
	qemu-img convert -f raw -O raw "nbd://127.0.0.1:$n/disk" "$SCRATCH/img$i"
	cmp <(tail -c +1001 "$SCRATCH/img$i" | head -c 24M) "$SCRATCH/a" || fail "NBD data via node $i differs"
	cmp <(head -c 1000 "$SCRATCH/img$i") <(head -c 1000 /dev/zero) || fail "the hole before the data via node $i"
done
"$DOG_BIN" vdi read -p "$P3" disk 1000 24M | cmp - "$SCRATCH/a" || fail "dog vdi read via node 3"

# dog vdi write through node 2, read through node 3.
random_file "$SCRATCH/b" 5
"$DOG_BIN" vdi write -p "$P2" disk 30M < "$SCRATCH/b"
"$DOG_BIN" vdi read -p "$P3" disk 30M 5M | cmp - "$SCRATCH/b" || fail "dog write via 2, read via 3"

# An NBD write with FUA through node 1, into an object node 1 holds (its map records the
# allocation only once the object is there: vdi_mapq, not cluster-wide yet), on both holders.
f=$(cd "$SCRATCH/n1/obj" && ls | grep -E '^00' | head -1)
off=$(( (16#${f:8:8} << 22) + 4096 ))
qemu-io -f raw -c "write -f -P 0x77 $off 4096" "nbd://127.0.0.1:$N1/disk" >/dev/null || fail "NBD write"
# A FLUSH reaches the other holder of what was written through node 1 since its last flush, and
# only it (gw_flush.c): the node that holds no copy hears of none. (writeback: qemu-io's default
# cache mode writes with FUA, which needs no flush.)
flushes() { grep -c "peer .*: flush$" "$SCRATCH/n$1/sheep.log" || true; }
qemu-io -f raw -c flush "nbd://127.0.0.1:$N1/disk" >/dev/null || fail "flush"
f2=$(flushes 2) f3=$(flushes 3)
qemu-io -f raw -t writeback -c "write -P 0x77 $off 4096" -c flush "nbd://127.0.0.1:$N1/disk" >/dev/null \
	|| fail "NBD write and flush"
for i in 2 3; do
	now=$(flushes $i) was=$(eval echo \$f$i)
	if [ -f "$SCRATCH/n$i/obj/$f" ]; then
		[ "$now" -gt "$was" ] || fail "no flush reached node $i"
	else
		[ "$now" -eq "$was" ] || fail "node $i was flushed though it holds nothing written"
	fi
done
for i in 1 2 3; do
	[ -f "$SCRATCH/n$i/obj/$f" ] || continue
	cmp <(dd if="$SCRATCH/n$i/obj/$f" bs=4096 skip=1 count=1 2>/dev/null) \
		<(head -c 4096 /dev/zero | tr '\0' '\167') || fail "the NBD write is not on node $i"
done
qemu-io -f raw -c "read -P 0x77 $off 4096" "nbd://127.0.0.1:$N3/disk" >/dev/null || fail "NBD read via 3"
# What the reads below expect now.
head -c 4096 /dev/zero | tr '\0' '\167' > "$SCRATCH/p77"
if [ $off -ge 1000 ] && [ $off -lt $((1000 + 24 * 1048576)) ]; then
	dd if="$SCRATCH/p77" of="$SCRATCH/a" bs=1 seek=$((off - 1000)) conv=notrunc 2>/dev/null
elif [ $off -ge $((30 * 1048576)) ] && [ $off -lt $((35 * 1048576)) ]; then
	dd if="$SCRATCH/p77" of="$SCRATCH/b" bs=1 seek=$((off - 30 * 1048576)) conv=notrunc 2>/dev/null
fi

# A dead holder: reads fall back to the other copy.
kill_sheep "$SCRATCH/n3"
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$N1/disk" "$SCRATCH/img1b"
cmp <(tail -c +1001 "$SCRATCH/img1b" | head -c 24M) "$SCRATCH/a" || fail "read with node 3 dead"
"$DOG_BIN" vdi read -p "$P2" disk 30M 5M | cmp - "$SCRATCH/b" || fail "dog read with node 3 dead"

# Writes to its objects cannot reach every holder: they fail (after the gateway's retries).
if head -c 32M /dev/zero | "$DOG_BIN" vdi write -p "$P1" disk 0 2>/dev/null; then
	fail "a write with a holder dead succeeded"
fi
grep -q "failed: .*retried for" "$SCRATCH/n1/sheep.log" || fail "no log of the failed write"
# A clean shut-down with peer connections open both ways.
kill_sheep "$SCRATCH/n2" TERM
kill_sheep "$SCRATCH/n1" TERM
echo "PASS: $TEST_NAME"
