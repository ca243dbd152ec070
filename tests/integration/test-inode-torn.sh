#!/bin/bash
# An inode whose primary header copy is zeros (a SIGKILL between the two header writes of
# `dog vdi create`) is served from its shadow copy after a restart; an inode file that a create
# never wrote at all (0 bytes, no objects) is removed at start-up and its id is free again; one
# with garbage in both copies is kept and reported as corrupt; a create that fails on a full disk
# leaves no inode file behind.
. "$(dirname "$0")/functions.sh"

# objpath STORE DIR OID: where the object OID (16 hex digits) lives (src/io/store.c).
objpath() {
	if [ "$1" = tree ]; then
		echo "$2/obj/${3:2:6}/$3"
	else
		echo "$2/obj/$3"
	fi
}

inode_oid() {
	printf '%016x' $((0x80000000 << 32 | 0x$1 << 32))
}

for store in plain tree; do
	P=$(free_port)
	D=$SCRATCH/$store
	start_sheep "$D" "$P"
	dog() { "$DOG_BIN" -p "$P" "$@"; }
	dog cluster format -c 1 -b $store >/dev/null
	dog vdi create alpha 64M
	dog vdi create beta 16M
	dog vdi create gamma 16M
	random_file "$SCRATCH/a1" 5
	dog vdi write alpha 3M <"$SCRATCH/a1"
	echo gamma-data | dog vdi write gamma
	dog vdi list -r alpha >"$SCRATCH/alpha.before"
	AVID=$(awk '{print $8}' "$SCRATCH/alpha.before")
	GVID=$(dog vdi list -r gamma | awk '{print $8}')
	AINODE=$(objpath $store "$D" "$(inode_oid "$AVID")")
	GINODE=$(objpath $store "$D" "$(inode_oid "$GVID")")
	[ -f "$AINODE" ] && [ -f "$GINODE" ] || fail "$store: inode files not where expected"
	kill_sheep "$D" KILL

	# A kill between the shadow and the primary write of the create: zeros at [0, 576).
	dd if=/dev/zero of="$AINODE" bs=576 count=1 conv=notrunc status=none
	# Garbage in both copies: not a create that never happened, so it must be kept.
	head -c 576 /dev/urandom | dd of="$GINODE" bs=576 count=1 conv=notrunc status=none
	head -c 576 /dev/urandom | dd of="$GINODE" bs=1 seek=2048 conv=notrunc status=none
	# A create that died before writing anything, for the id of "test" (7c2b25): 0 bytes.
	TINODE=$(objpath $store "$D" "$(inode_oid 7c2b25)")
	mkdir -p "$(dirname "$TINODE")"
	: >"$TINODE"
	# An empty inode that objects of its id accompany is not a bare leftover: kept.
	KINODE=$(objpath $store "$D" "$(inode_oid 5a5a5a)")
	KDATA=$(objpath $store "$D" 005a5a5a00000000)
	mkdir -p "$(dirname "$KINODE")"
	: >"$KINODE"
	echo orphan >"$KDATA"

	start_sheep "$D" "$P"
	LOG=$D/sheep.log
	dog vdi list -r alpha | cmp -s - "$SCRATCH/alpha.before" ||
		fail "$store: alpha changed across the torn header: $(dog vdi list -r alpha) vs $(cat "$SCRATCH/alpha.before")"
	dog vdi list -r alpha | grep -qE "^= alpha 0 67108864 " || fail "$store: alpha has the wrong size"
	dog vdi read alpha 3M 5M | cmp - "$SCRATCH/a1" || fail "$store: data of alpha lost"
	grep -q "inode $(inode_oid "$AVID") has no valid primary header copy.*using its shadow copy" "$LOG" ||
		fail "$store: the log does not say the shadow copy of alpha was used"
	[ ! -e "$TINODE" ] || fail "$store: the 0-byte inode of an unused id was not removed"
	grep -q "removing inode $(inode_oid 7c2b25): both header copies are zeros" "$LOG" ||
		fail "$store: the removal of the empty inode was not logged"
	dog vdi list -r | grep -q " 7c2b25 " && fail "$store: the empty inode shows in vdi list"
	[ -f "$GINODE" ] || fail "$store: the inode with garbage in both copies was removed"
	grep -q "inode $(inode_oid "$GVID") is corrupt" "$LOG" || fail "$store: the garbage inode was not reported as corrupt"
	dog vdi list -r | grep -q " gamma " && fail "$store: the garbage inode is served"
	[ "$(find "$D/obj" -name "$(printf %08x 0x$GVID)*" | wc -l)" = 1 ] || fail "$store: data of the corrupt gamma not kept"
	[ -f "$KINODE" ] && [ -f "$KDATA" ] || fail "$store: an empty inode with objects of its id was removed"
	grep -q "inode $(inode_oid 5a5a5a) has no header.*kept" "$LOG" || fail "$store: the empty inode with objects was not reported"
	[ "$(dog vdi list -r | wc -l)" = 2 ] || fail "$store: vdi list: $(dog vdi list -r)"
	# The id of the removed leftover is free again.
	[ "$(dog vdi create test 8M -v)" = "VDI ID of newly created VDI: 7c2b25" ] || fail "$store: id 7c2b25 still taken"

	# The VDI served from its shadow takes new writes and a resize, and they survive a kill.
	random_file "$SCRATCH/a2" 3
	dog vdi write alpha 40M <"$SCRATCH/a2"
	dog vdi resize alpha 128M
	kill_sheep "$D" KILL
	start_sheep "$D" "$P"
	dog vdi list -r alpha | grep -qE "^= alpha 0 134217728 " || fail "$store: the resize of alpha was lost: $(dog vdi list -r alpha)"
	dog vdi read alpha 3M 5M | cmp - "$SCRATCH/a1" || fail "$store: old data of alpha lost after the second restart"
	dog vdi read alpha 40M 3M | cmp - "$SCRATCH/a2" || fail "$store: new data of alpha lost after the second restart"
	# The resize rewrote both copies: the primary is valid again.
	[ "$(grep -c "inode $(inode_oid "$AVID") has no valid primary" "$LOG")" = 1 ] || fail "$store: the primary was not repaired"
	dog vdi list -r | grep -q " test " || fail "$store: the VDI created on the freed id is gone"
	kill_sheep "$D" TERM
done

# A create that fails on a full disk leaves no inode file behind, and its id is not taken.
SMALL=$SCRATCH/small
unmount_small() {
	[ -f "$SMALL/n/sheep.pid" ] && kill -9 "$(cat "$SMALL/n/sheep.pid")" 2>/dev/null
	umount -l "$SMALL" 2>/dev/null
	return 0
}
mkdir -p "$SMALL"
if mount -t tmpfs -o size=8m tmpfs "$SMALL" 2>/dev/null; then
	CLEANUP_FNS+=(unmount_small)
	P=$(free_port)
	D=$SMALL/n
	start_sheep "$D" "$P"
	dog() { "$DOG_BIN" -p "$P" "$@"; }
	dog cluster format -c 1 >/dev/null
	dd if=/dev/zero of="$SMALL/fill" bs=64k status=none 2>/dev/null || true
	expect_exit 4 dog vdi create test 8M
	expect_stderr "No space left on device"
	[ -z "$(ls "$D/obj")" ] || fail "a failed create left files in obj/: $(ls -l "$D/obj")"
	rm "$SMALL/fill"
	kill_sheep "$D" KILL
	start_sheep "$D" "$P"
	[ "$(dog vdi create test 8M -v)" = "VDI ID of newly created VDI: 7c2b25" ] || fail "the id of the failed create stays taken"
	kill_sheep "$D" TERM
	umount "$SMALL" || fail "cannot unmount $SMALL"
else
	echo "(cannot mount a small tmpfs here: skipping the full-disk case)"
fi
echo "PASS: $TEST_NAME"
