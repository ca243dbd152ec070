#!/bin/bash
# VDI create / list / resize / delete / attributes, ids as the original, errors and exit codes.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
start_sheep "$SCRATCH/n0" "$P"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 >/dev/null

[ "$(dog vdi create test 4G -v)" = "VDI ID of newly created VDI: 7c2b25" ] || fail "id of 'test'"
[ "$(dog vdi create test2 100M -v)" = "VDI ID of newly created VDI: fd3815" ] || fail "id of 'test2'"
dog vdi list >"$SCRATCH/out"
head -1 "$SCRATCH/out" | grep -qx "  Name        Id    Size    Used  Shared    Creation time   VDI id  Copies  Tag   Block Size Shift" || fail "list header"
grep -qE "^  test         0  4\.0 GB  0\.0 MB  0\.0 MB [0-9-]{10} [0-9:]{5}   7c2b25      1                22$" "$SCRATCH/out" || fail "list row: $(cat "$SCRATCH/out")"
dog vdi list -r | grep -qE "^= test 0 4294967296 0 0 [0-9]+ 7c2b25 1  22$" || fail "raw row: $(dog vdi list -r)"
[ "$(dog vdi list -r test2 | wc -l)" = 1 ] || fail "list filtered by name"

expect_exit 3 dog vdi create test 1G
expect_stderr "already exists"
expect_exit 1 dog vdi create "" 1G
expect_stderr "cannot be empty"
expect_exit 1 dog vdi create "a/b" 1G
expect_exit 64 dog vdi create big 1Q
expect_stderr "Invalid size '1Q'"
expect_exit 64 dog vdi create big -5G
expect_exit 1 dog vdi create big 5T
expect_stderr "too large: at most 4\.0 TB"
expect_exit 1 dog vdi create zero 0
expect_exit 64 dog vdi create onlyname
expect_exit 64 dog vdi list -Z
expect_stderr "Invalid option"

dog vdi resize test 8G
dog vdi list -r test | grep -q " 8589934592 " || fail "resize"
expect_exit 1 dog vdi resize test 1G
expect_stderr "Shrinking VDIs is not implemented"
expect_exit 5 dog vdi resize nosuch 1G

# Attributes.
dog vdi setattr test owner alice
[ "$(dog vdi getattr test owner)" = alice ] || fail "getattr"
printf 'from\nstdin' | dog vdi setattr test note
[ "$(dog vdi getattr test note)" = "$(printf 'from\nstdin')" ] || fail "value from stdin"
expect_exit 3 dog vdi setattr -x test owner bob
expect_stderr "The attribute 'owner' already exists"
dog vdi setattr test owner bob
[ "$(dog vdi getattr test owner)" = bob ] || fail "overwrite"
dog vdi setattr -d test owner
expect_exit 5 dog vdi getattr test owner
expect_stderr "Attribute 'owner' not found"
[ "$(dog vdi getattr test note)" = "$(printf 'from\nstdin')" ] || fail "other key lost after delete"

# Delete frees the objects and the name; the id is not reused.
head -c 9M /dev/urandom | dog vdi write test2
[ "$(ls "$SCRATCH/n0/obj" | grep -c '^00fd3815')" = 3 ] || fail "objects of test2"
dog vdi delete test2
[ "$(ls "$SCRATCH/n0/obj" | grep -c '^00fd3815' || true)" = 0 ] || fail "objects left after delete"
dog vdi list -r | grep -q " test2 " && fail "deleted VDI still listed"
[ "$(dog vdi create test2 100M -v)" = "VDI ID of newly created VDI: fd3816" ] || fail "deleted id was reused"
expect_exit 5 dog vdi delete nosuch
expect_stderr "not found"

# Preallocation: every object exists, Used equals Size.
dog vdi create pre 40M -P
dog vdi list -r pre | grep -qE "^= pre 0 41943040 41943040 0 " || fail "prealloc used: $(dog vdi list -r pre)"
echo "PASS: $TEST_NAME"
