#!/bin/bash
# fio through its nbd engine: four jobs, each on its own connection, write random blocks with
# crc32c checksums and verify them, while the connections are spread over the shards.
. "$(dirname "$0")/functions.sh"
need fio
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "SKIP: fio has no nbd engine"; exit 77; }

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
"$DOG_BIN" -p "$P" vdi create disk 128M

# Each job owns a 32 MiB region (offset_increment), so the verifies do not race each other.
fio --name=verify --ioengine=nbd --uri="$NBD/disk" --numjobs=4 --size=32M --offset_increment=32M \
	--rw=randwrite --bsrange=4k-64k --iodepth=16 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --verify_state_save=0 --group_reporting --output="$SCRATCH/fio.out" ||
	fail "fio verify failed: $(tail -20 "$SCRATCH/fio.out")"
grep -q "err= 0" "$SCRATCH/fio.out" || fail "fio reported errors: $(cat "$SCRATCH/fio.out")"
[ "$(grep -c 'serving disk' "$SCRATCH/n0/sheep.log")" -ge 4 ] || fail "fewer than 4 connections"
# The connections were dealt to both shards.
grep 'serving disk' "$SCRATCH/n0/sheep.log" | grep -q shard0 || fail "no connection on shard 0"
grep 'serving disk' "$SCRATCH/n0/sheep.log" | grep -q shard1 || fail "no connection on shard 1"
grep -E "WRITE:|READ:" "$SCRATCH/fio.out"
echo "PASS: $TEST_NAME"
