#!/bin/bash
# dog vdi write/read: random data at unaligned offsets across object boundaries, holes, limits.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
start_sheep "$SCRATCH/n0" "$P"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 >/dev/null
dog vdi create disk 64M

random_file "$SCRATCH/a" 9
# 9 MiB starting 1 MiB + 123 bytes in: spans objects 0, 1 and 2 at unaligned ends.
dog vdi write disk $((1048576 + 123)) < "$SCRATCH/a"
dog vdi read disk $((1048576 + 123)) 9M | cmp - "$SCRATCH/a" || fail "read back differs"
dog vdi read disk 0 $((1048576 + 123)) | cmp - <(head -c $((1048576 + 123)) /dev/zero) || fail "hole before the data is not zero"
dog vdi read disk 32M 4M | cmp - <(head -c 4M /dev/zero) || fail "unwritten object is not zero"
dog vdi list -r disk | grep -qE "^= disk 0 67108864 12582912 0 " || fail "used after write: $(dog vdi list -r disk)"

# The whole image, overwritten in place, read in one go.
random_file "$SCRATCH/full" 64
dog vdi write disk < "$SCRATCH/full"
dog vdi read disk | cmp - "$SCRATCH/full" || fail "whole image differs"

# A write past the end is clamped; a read past the end fails.
head -c 2M /dev/urandom > "$SCRATCH/tail"
dog vdi write disk 63M < "$SCRATCH/tail"
dog vdi read disk 63M | cmp - <(head -c 1M "$SCRATCH/tail") || fail "clamped write"
expect_exit 1 dog vdi read disk 65M
expect_stderr "Read offset is beyond the end of the VDI"
expect_exit 1 dog vdi read disk 63M 2M
expect_stderr "Read length is beyond the end of the VDI"
expect_exit 1 dog vdi write disk 65M < /dev/null
expect_stderr "Write offset is beyond the end of the VDI"
expect_exit 5 dog vdi read nosuch
expect_exit 64 dog vdi read disk 1X
# A leftover file where an unallocated object would go (an unacknowledged write before a crash)
# must not leak into a new object: the start-up sweep removes it.
dog vdi create fresh 8M
VID=$(dog vdi list -r fresh | awk '{print $8}')
kill_sheep "$SCRATCH/n0"
head -c 4M /dev/urandom > "$SCRATCH/n0/obj/$(printf '%016x' $((0x$VID << 32 | 1)))"
start_sheep "$SCRATCH/n0" "$P"
head -c 512 /dev/urandom > "$SCRATCH/small"
dog vdi write fresh 4M < "$SCRATCH/small"
dog vdi read fresh 4M 512 | cmp - "$SCRATCH/small" || fail "new object data"
dog vdi read fresh $((4 * 1048576 + 512)) $((4 * 1048576 - 512)) | cmp - <(head -c $((4 * 1048576 - 512)) /dev/zero) || fail "a leftover file leaked into a new object"
echo "PASS: $TEST_NAME"
