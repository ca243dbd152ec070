#!/bin/bash
# Snapshots, clones, rollback and delete on one node, checked byte for byte at every step with
# real clients (dog, qemu-io, nbdcopy, nbdsh): ids as the original allocates them, copy-on-write
# from NBD and from dog, TRIM and WRITE_ZEROES on shared objects, read-only snapshot exports,
# a restart, clear errors, and every object freed once everything is deleted.
source "$(dirname "$0")/functions.sh"
need qemu-io nbdcopy nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
S=$SCRATCH

# content NAME[@SNAP] FILE: the export's bytes (through NBD) and dog's equal FILE.
content() {
	local exp=$1 want=$2 name=${1%@*} snap=
	[ "$exp" != "$name" ] && snap=${1#*@}
	nbdcopy "$NBD/$exp" - | cmp - "$want" || fail "NBD export $exp differs from $want"
	dog vdi read ${snap:+-s "$snap"} "$name" | cmp - "$want" || fail "dog vdi read $exp differs"
}
# overlay FILE OFFSET SRC: writes SRC into FILE at OFFSET (bytes, or with K/M: the expected image).
overlay() {
	dd if="$3" of="$1" bs=1M seek="$(numfmt --from=iec "$2")" oflag=seek_bytes conv=notrunc \
		status=none
}

dog vdi create vol 40M
[ "$(dog vdi list -r vol | cut -d" " -f8)" = cb565a ] || fail "id of vol"
random_file "$S/a" 40
dog vdi write vol <"$S/a"
cp "$S/a" "$S/exp1"

# Snapshot 1: the snapshot keeps the id, the working VDI moves to the next free one.
[ "$(dog vdi snapshot vol -s one -v)" = \
	"new VID of original VDI: cb565b, VDI ID of newly created snapshot: cb565a" ] ||
	fail "snapshot -v output"
random_file "$S/b" 6
qemu-io -f raw -c "write -s $S/b 3M 6M" -c flush "$NBD/vol" >/dev/null || fail "NBD write"
cp "$S/exp1" "$S/exp2"
overlay "$S/exp2" 3M "$S/b"
content vol@one "$S/exp1"
content vol "$S/exp2"

# Snapshot 2 without a tag, then a dog write over shared objects (a copy-up from dog).
dog vdi snapshot vol
random_file "$S/c" 1
dog vdi write vol $((9 * 1024 * 1024 + 4096)) <"$S/c"
cp "$S/exp2" "$S/exp3"
overlay "$S/exp3" $((9 * 1024 * 1024 + 4096)) "$S/c"
content vol@one "$S/exp1"
content vol@2 "$S/exp2"
content vol "$S/exp3"

# The list: flags, snapshot ids, Used (objects owned) and Shared (objects of an ancestor).
dog vdi list -r >"$S/list"
grep -qE "^s vol 1 41943040 41943040 0 [0-9]+ cb565a 1 one 22$" "$S/list" || fail "row of snapshot one: $(cat "$S/list")"
grep -qE "^s vol 2 41943040 12582912 29360128 [0-9]+ cb565b 1  22$" "$S/list" || fail "row of snapshot 2: $(cat "$S/list")"
grep -qE "^= vol 0 41943040 4194304 37748736 [0-9]+ cb565c 1  22$" "$S/list" || fail "row of vol: $(cat "$S/list")"
nbdinfo --list "$NBD" >"$S/exports"
grep -q 'export="vol@one"' "$S/exports" && grep -q 'export="vol@2"' "$S/exports" ||
	fail "snapshots are not listed as exports: $(cat "$S/exports")"

# A snapshot export is read-only, and writing it fails.
expect_exit 1 qemu-io -f raw -c "write 0 4k" "$NBD/vol@one"
expect_stderr "Permission denied|read-only|Read-only"
PATH=/usr/bin:$PATH python3 - "$NBD/vol@one" <<'PY' || fail "a write to a snapshot export was not refused with EPERM"
import errno, nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.is_read_only()
PY

# Clone: writes to the clone leave the snapshot alone.
[ "$(dog vdi clone vol cl -s 2 -v)" = "VDI ID of newly created clone: 4a297a" ] || fail "clone -v"
random_file "$S/d" 2
qemu-io -f raw -c "write -s $S/d 1M 2M" -c flush "$NBD/cl" >/dev/null || fail "write to the clone"
cp "$S/exp2" "$S/expcl"
overlay "$S/expcl" 1M "$S/d"
content cl "$S/expcl"
content vol@2 "$S/exp2"
dog vdi list -r cl | grep -q "^c cl 0 " || fail "the clone's flag: $(dog vdi list -r cl)"

# TRIM and WRITE_ZEROES on objects the clone shares: a whole object is dropped from the map,
# partial ones are copied up first; the snapshot keeps its bytes.
nbdsh -u "$NBD/cl" -c "
h.trim(4 << 20, 8 << 20)
h.trim(4096, 20 << 20)
h.zero(8192, (24 << 20) + 100)
h.zero(65536, 28 << 20, nbd.CMD_FLAG_NO_HOLE)
h.flush()
" || fail "trim/zero on the clone"
python3 - "$S/expcl" <<'PY'
import sys
f = open(sys.argv[1], 'r+b')
for off, n in ((8 << 20, 4 << 20), (20 << 20, 4096), ((24 << 20) + 100, 8192), (28 << 20, 65536)):
    f.seek(off); f.write(bytes(n))
PY
content cl "$S/expcl"
content vol@2 "$S/exp2"

# The tree.
dog vdi tree >"$S/tree"
grep -qE '^vol---\[[0-9 :-]{16}\]---\[[0-9 :-]{16}\]-\+-\(you are here\)$' "$S/tree" &&
	grep -qE '^ {46}`-cl \(you are here\)$' "$S/tree" || fail "tree: $(cat "$S/tree")"

# A restart keeps everything; snapshots stay read-only.
kill_sheep "$S/n0" TERM
start_sheep "$S/n0" "$P" --nbd-port "$NP" --nbd-socket "$S/n0.sock"
content vol@one "$S/exp1"
content vol@2 "$S/exp2"
content vol "$S/exp3"
content cl "$S/expcl"
random_file "$S/e" 1
qemu-io -f raw -c "write -s $S/e 17M 1M" "$NBD/vol" >/dev/null || fail "write after restart"
overlay "$S/exp3" 17M "$S/e"
content vol "$S/exp3"
content vol@2 "$S/exp2"

# Rollback: vol gets snapshot one's content under a new id; the rolled back one is gone.
expect_exit 64 dog vdi rollback vol
dog vdi rollback -f vol -s one
content vol "$S/exp1"
content vol@one "$S/exp1"
[ "$(dog vdi list -r vol | grep -c '^=')" = 1 ] || fail "two working VDIs after rollback"

# Errors: clear messages, non-zero exits.
expect_exit 5 dog vdi snapshot nosuch
expect_stderr "nosuch not found"
expect_exit 5 dog vdi delete vol -s nosuchtag
expect_stderr "has no snapshot 'nosuchtag'"
expect_exit 5 dog vdi read vol -s 99
expect_exit 3 dog vdi snapshot vol -s one
expect_stderr "already has a snapshot tagged 'one'"
expect_exit 64 dog vdi snapshot vol -s 123
expect_stderr "is a number"
expect_exit 64 dog vdi clone vol cl2
expect_stderr "Only snapshot VDIs can be cloned"
expect_exit 3 dog vdi clone vol cl -s one
expect_exit 64 dog vdi write vol -s one </dev/null
expect_exit 5 dog vdi rollback -f vol -s nosuch

# Delete everything: every object goes, inodes included (a snapshot whose objects a clone still
# shares keeps them until the clone goes).
dog vdi delete vol -s 2
content cl "$S/expcl"
dog vdi delete cl
dog vdi delete vol -s one
dog vdi delete vol
left=$(ls "$S/n0/obj" | wc -l)
[ "$left" -eq 0 ] || fail "$left objects left after deleting everything: $(ls "$S/n0/obj" | head)"
[ -z "$(dog vdi list -r)" ] || fail "VDIs left: $(dog vdi list -r)"
echo "PASS: $TEST_NAME"
