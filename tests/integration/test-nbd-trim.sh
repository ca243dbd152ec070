#!/bin/bash
# TRIM and WRITE_ZEROES free whole objects (Used drops, files go) and punch partial ranges;
# BLOCK_STATUS reports what is left; NO_HOLE zeroing allocates.
. "$(dirname "$0")/functions.sh"
need nbdsh nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
used() { dog vdi list -r disk | awk '{print $5}'; }
dog vdi create disk 32M
VID=$(dog vdi list -r disk | awk '{print $8}')
nobjs() { find "$SCRATCH/n0/obj" -name "$(printf '%08x' $((0x$VID)))*" | wc -l; }

nbdsh -u "$NBD/disk" -c '
import os
h.pwrite(os.urandom(32 << 20), 0)
h.flush()
'
[ "$(used)" = $((32 << 20)) ] || fail "Used after writing everything: $(used)"
[ "$(nobjs)" = 8 ] || fail "object files after writing everything: $(nobjs)"

nbdsh -u "$NBD/disk" -c '
M = 1 << 20
before = h.pread(32 * M, 0)
h.trim(8 * M, 4 * M)                     # objects 1 and 2 whole (count, offset)
h.zero(4 * M, 16 * M)                    # object 4 whole (may punch)
h.trim(M, 25 * M + 123)                  # a partial range inside object 6
h.zero(4096, 29 * M, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)  # inside object 7, allocated
after = h.pread(32 * M, 0)
z = bytes(32 * M)
exp = bytearray(before)
for off, n in ((4 * M, 8 * M), (16 * M, 4 * M), (25 * M + 123, M), (29 * M, 4096)):
    exp[off:off + n] = z[:n]
if after != bytes(exp):
    bad = [i for i in range(0, 32 * M, 4096) if after[i:i+4096] != exp[i:i+4096]]
    raise AssertionError("contents differ in %d blocks, first at %d, last at %d" % (len(bad), bad[0], bad[-1]))
h.flush()
'
[ "$(used)" = $((20 << 20)) ] || fail "Used after freeing 3 objects: $(used)"
[ "$(nobjs)" = 5 ] || fail "object files after freeing 3 objects: $(nobjs)"

nbdinfo --map "$NBD/disk" >"$SCRATCH/map"
grep -qE '^ +4194304 +8388608 +3 +hole,zero' "$SCRATCH/map" || fail "map: $(cat "$SCRATCH/map")"
grep -qE '^ +16777216 +4194304 +3 +hole,zero' "$SCRATCH/map" || fail "map: $(cat "$SCRATCH/map")"

# Zeroing an unallocated object with NO_HOLE allocates it; without, it stays a hole.
nbdsh -u "$NBD/disk" -c '
h.zero(4 << 20, 4 << 20, nbd.CMD_FLAG_NO_HOLE)
h.zero(4 << 20, 8 << 20)
assert h.pread(8 << 20, 4 << 20) == bytes(8 << 20)
'
[ "$(used)" = $((24 << 20)) ] || fail "Used after NO_HOLE zeroing: $(used)"

# A trim of everything leaves nothing.
nbdsh -u "$NBD/disk" -c 'h.trim(32 << 20, 0)'
[ "$(used)" = 0 ] || fail "Used after trimming all: $(used)"
[ "$(nobjs)" = 0 ] || fail "object files left after trimming all: $(nobjs)"
echo "PASS: $TEST_NAME"
