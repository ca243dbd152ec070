#!/bin/bash
# nbdcopy round trips with several connections at once (multi-conn) over TCP and the Unix
# socket, and a sparse copy that leaves holes unallocated.
. "$(dirname "$0")/functions.sh"
need nbdcopy nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog vdi create disk 96M
dog vdi create sparse 96M

random_file "$SCRATCH/img" 96
nbdcopy --connections=4 --requests=32 "$SCRATCH/img" "$NBD/disk" || fail "nbdcopy in over TCP"
nbdcopy --connections=4 "nbd+unix:///disk?socket=$NBD_SOCK" "$SCRATCH/back" ||
	fail "nbdcopy out over the Unix socket"
cmp "$SCRATCH/img" "$SCRATCH/back" || fail "round trip differs"
[ "$(dog vdi list -r disk | awk '{print $5}')" = $((96 << 20)) ] || fail "disk not fully used"

# A mostly empty image: 4 MiB of data at 40 MiB. nbdcopy skips the zeros, so only one object
# gets allocated, and copying back reproduces the zeros from the holes.
truncate -s 96M "$SCRATCH/sparse"
head -c 4M /dev/urandom | dd of="$SCRATCH/sparse" bs=1M seek=40 conv=notrunc status=none
nbdcopy "$SCRATCH/sparse" "$NBD/sparse" || fail "nbdcopy of a sparse image"
[ "$(dog vdi list -r sparse | awk '{print $5}')" = $((4 << 20)) ] ||
	fail "sparse copy allocated $(dog vdi list -r sparse | awk '{print $5}') bytes"
nbdcopy "$NBD/sparse" "$SCRATCH/sparse.back" || fail "nbdcopy out of a sparse VDI"
cmp "$SCRATCH/sparse" "$SCRATCH/sparse.back" || fail "sparse round trip differs"
nbdinfo --map "$NBD/sparse" >"$SCRATCH/map"
grep -qE '^ +41943040 +4194304 +0 +data' "$SCRATCH/map" || fail "map: $(cat "$SCRATCH/map")"
grep -qE '^ +0 +41943040 +3 +hole,zero' "$SCRATCH/map" || fail "map: $(cat "$SCRATCH/map")"
echo "PASS: $TEST_NAME"
