#!/bin/bash
# Backups: dog vdi backup's incremental stream (FROM..TO restored onto FROM gives TO), a full
# one into an empty image, full copies with nbdcopy and qemu-img from a snapshot's export, and
# the qemu:dirty-bitmap:FROM context that NBD backup tools read; bad streams and arguments.
source "$(dirname "$0")/functions.sh"
need qemu-img nbdcopy nbdinfo

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
S=$SCRATCH

dog vdi create vol 40M
random_file "$S/a" 40
dog vdi write vol <"$S/a"
dog vdi snapshot vol -s mon
# Changes: 5 bytes in object 0, 3 MiB in object 4, a TRIM of object 8.
printf hello | dog vdi write vol 5000
random_file "$S/b" 3
dog vdi write vol 17M <"$S/b"
nbdsh -u "$NBD/vol" -c "h.trim(4 << 20, 32 << 20)"
dog vdi snapshot vol -s tue
dog vdi read vol -s tue >"$S/tue"
dog vdi read vol -s mon | cmp - "$S/a" || fail "snapshot mon changed"

# Incremental: only the changed 512-byte blocks (the format has no zero record: the trimmed
# object is 4 MiB of zeros), plus headers.
dog vdi backup vol -F mon -s tue >"$S/inc"
size=$(stat -c %s "$S/inc")
[ "$size" -lt $((7 * 1024 * 1024 + 8192)) ] && [ "$size" -gt $((7 * 1024 * 1024)) ] ||
	fail "incremental backup of $size bytes"
od -A n -t x4 -N 8 "$S/inc" | grep -q "00000001 11921192" || fail "stream header: $(od -A n -t x4 -N 8 "$S/inc")"
# Restored onto FROM it gives TO; the image's later writes are gone, as with rollback.
random_file "$S/c" 1
dog vdi write vol 30M <"$S/c"
dog vdi restore vol -s mon <"$S/inc" || fail "restore"
dog vdi read vol | cmp - "$S/tue" || fail "restored FROM..TO differs from TO"
nbdcopy "$NBD/vol" - | cmp - "$S/tue" || fail "restored image read over NBD"

# Full: from an empty image; restored into a new one.
dog vdi backup vol -s tue >"$S/full"
dog vdi create copy 40M
dog vdi restore copy <"$S/full" || fail "restore of a full backup"
dog vdi read copy | cmp - "$S/tue" || fail "full backup restored differs"
# Full copies with the NBD tools, from the snapshot's export.
nbdcopy "$NBD/vol@tue" "$S/nbdcopy.img" && cmp "$S/nbdcopy.img" "$S/tue" || fail "nbdcopy"
qemu-img convert -f raw -O qcow2 "$NBD/vol@tue" "$S/tue.qcow2" || fail "qemu-img convert"
qemu-img compare -f qcow2 -F raw "$S/tue.qcow2" "$S/tue" >/dev/null || fail "qemu-img copy differs"

# The dirty bitmap: objects 0, 4 and 8 changed between mon and tue, nothing else.
nbdinfo --map=qemu:dirty-bitmap:mon "$NBD/vol@tue" >"$S/map"
cat >"$S/want" <<'EOF'
0 4194304 1 dirty
4194304 12582912 0 clean
16777216 4194304 1 dirty
20971520 12582912 0 clean
33554432 4194304 1 dirty
37748736 4194304 0 clean
EOF
awk '{print $1, $2, $3, $4}' "$S/map" | diff - "$S/want" || fail "dirty bitmap: $(cat "$S/map")"
nbdinfo --map=qemu:dirty-bitmap:1 "$NBD/vol@tue" | diff - "$S/map" >/dev/null ||
	fail "the bitmap named by snapshot id differs"
# Only an older snapshot of the same VDI has one; the working VDI's export offers none.
expect_exit 1 nbdinfo --map=qemu:dirty-bitmap:tue "$NBD/vol@mon"
expect_exit 1 nbdinfo --map=qemu:dirty-bitmap:mon "$NBD/vol"
nbdinfo --list --content "$NBD" | grep -q "qemu:dirty-bitmap:mon" || fail "context not listed"
# qemu reads it too (x-dirty-bitmap reports dirty areas as "data": false).
qemu-img map --output=json --image-opts \
	"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$NP,export=vol@tue,x-dirty-bitmap=qemu:dirty-bitmap:mon" \
	>"$S/qmap" || fail "qemu-img map with the dirty bitmap"
[ "$(grep -c '"data": false' "$S/qmap")" -eq 3 ] || fail "qemu-img map: $(cat "$S/qmap")"

# Errors.
expect_exit 64 dog vdi backup vol
expect_stderr "name the snapshot"
expect_exit 5 dog vdi backup vol -s nosuch
expect_exit 5 dog vdi backup vol -F nosuch -s tue
echo "not a backup at all" >"$S/junk"
expect_exit 1 dog vdi restore copy <"$S/junk"
expect_stderr "not a sheepdog backup stream"
head -c 100000 "$S/inc" >"$S/cut"
expect_exit 1 dog vdi restore copy <"$S/cut"
expect_stderr "cut short"
python3 - "$S/inc" "$S/bad" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('<I', d, 8, 999)     # the first record's object index: past the end
open(sys.argv[2], 'wb').write(d)
PY
expect_exit 1 dog vdi restore copy <"$S/bad"
expect_stderr "outside the image"
dog vdi read copy | cmp - "$S/tue" || fail "a refused restore changed the image"
echo "PASS: $TEST_NAME"
