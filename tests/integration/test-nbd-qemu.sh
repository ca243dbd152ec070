#!/bin/bash
# QEMU's tools over NBD: qemu-img info, convert, compare and map; qemu-io patterns across object
# boundaries, zero writes, discards and asynchronous requests.
. "$(dirname "$0")/functions.sh"
need qemu-img qemu-io

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog vdi create disk 40M
U=$NBD/disk
qio() { qemu-io -f raw "$@" "$U" >"$SCRATCH/qio" 2>&1 || fail "qemu-io $*: $(cat "$SCRATCH/qio")"; \
	grep -q "verification failed" "$SCRATCH/qio" && fail "qemu-io $*: $(cat "$SCRATCH/qio")"; true; }

qemu-img info -f raw "$U" | grep -q "virtual size: 40 MiB" || fail "qemu-img info"

# A fresh VDI reads as zeros and maps as one hole.
qio -c "read -P 0 0 40M"
qemu-img map -f raw --output=json "$U" >"$SCRATCH/map"
grep -q '"start": 0, "length": 41943040, .*"zero": true, "data": false' "$SCRATCH/map" ||
	fail "fresh VDI map: $(cat "$SCRATCH/map")"

# Patterns at unaligned offsets that straddle 4 MiB object boundaries.
qio -c "write -P 0x11 4194000 1000" -c "write -P 0x22 12582910 5000" -c "write -P 0x33 0 512"
qio -c "read -P 0x11 4194000 1000" -c "read -P 0x22 12582910 5000" -c "read -P 0x33 0 512" \
	-c "read -P 0 512 4193488" -c "read -P 0 4195000 100"

# Asynchronous requests in flight together, then a flush.
qio -c "aio_write -P 0x44 20M 64k" -c "aio_write -P 0x55 24M 64k" -c "aio_write -P 0x66 28M 4k" \
	-c "aio_flush"
qio -c "aio_read -P 0x44 20M 64k" -c "aio_read -P 0x55 24M 64k" -c "aio_read -P 0x66 28M 4k" \
	-c "aio_flush"

# Zero writes: with the unmap flag (may punch) and without (NO_HOLE); discards.
qio -c "write -z 4194000 1000" -c "write -z -u 12582910 5000"
qio -c "read -P 0 4194000 1000" -c "read -P 0 12582910 5000" -c "read -P 0x33 0 512"
qio -c "discard 20M 8M"
qio -c "read -P 0 20M 8M" -c "read -P 0x66 28M 4k"

# convert and compare with a random image; map shows data everywhere after.
random_file "$SCRATCH/img" 40
qemu-img convert -n -f raw -O raw "$SCRATCH/img" "$U" || fail "qemu-img convert into NBD"
qemu-img compare -f raw -F raw "$SCRATCH/img" "$U" || fail "qemu-img compare"
qemu-img convert -f raw -O raw "$U" "$SCRATCH/back" || fail "qemu-img convert out of NBD"
cmp "$SCRATCH/img" "$SCRATCH/back" || fail "converted image differs"
qemu-img map -f raw --output=json "$U" | grep -q '"start": 0, "length": 41943040, .*"data": true' ||
	fail "map after convert"
echo "PASS: $TEST_NAME"
