#!/bin/bash
# One shard serving 24 connections at queue depth 64 with whole-page writes: up to 1536 writes
# in flight on the shard, most completing inside their own submission (the file cached, written
# in place), more than the shard's message ring to itself holds (1024). Every block is verified
# (crc32c).
. "$(dirname "$0")/functions.sh"
need fio
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP" --shards 1
"$DOG_BIN" -p "$P" vdi create disk 24M

# 24 jobs, each on its own connection and its own 1 MiB region, all on the one shard.
fio --name=many --ioengine=nbd --uri="$NBD/disk" --numjobs=24 --size=1M --offset_increment=1M \
	--rw=randwrite --bs=4k --iodepth=64 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--verify_state_save=0 --loops=4 --group_reporting --output="$SCRATCH/fio.out" ||
	fail "fio verify failed: $(tail -20 "$SCRATCH/fio.out")"
grep -q "err= 0" "$SCRATCH/fio.out" || fail "fio reported errors: $(cat "$SCRATCH/fio.out")"
[ "$(grep -c 'serving disk' "$SCRATCH/n0/sheep.log")" -ge 24 ] || fail "fewer than 24 connections"
# The daemon is still healthy and serves a fresh connection.
nbdinfo --size "$NBD/disk" | grep -qx 25165824 || fail "sheep does not answer after the run"
grep -E "WRITE:|READ:" "$SCRATCH/fio.out"
echo "PASS: $TEST_NAME"
