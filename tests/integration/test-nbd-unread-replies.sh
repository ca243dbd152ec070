#!/bin/bash
# NBD replies a client never reads: four connections send 32 MiB READs and read nothing (on the
# old code this took sheep from 9 MiB to 5.4 GiB). sheep stops reading from them at their budget,
# its RSS stays within the budgets plus a margin, a well-behaved client is served meanwhile, and
# the flooders are closed at the reply deadline with a log line naming each.
. "$(dirname "$0")/functions.sh"
need qemu-io

HOSTILE="/usr/bin/python3 $TOP/tests/integration/hostile.py"
P=$(free_port)
NP=$(free_port)
# ASan holds freed memory in a quarantine (256 MiB by default): keep it small so RSS means the same.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16"
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP" --limits conn-mem=32M,shard-mem=64M,reply=4
"$DOG_BIN" vdi create -p "$P" disk 1G
PID=$(cat "$SCRATCH/n0/sheep.pid")
base=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")

$HOSTILE rss "$PID" 12 >"$SCRATCH/rss" &
RSS_PID=$!
# Two connections per shard: one fills the shard's budget, the other waits its turn (its clock
# stopped, it is not the one misbehaving yet) and takes the budget when the first is closed.
$HOSTILE nbd-unread-reads "$NP" disk 4 33554432 11 >"$SCRATCH/flood" 2>&1 &
FLOOD=$!
stop_flood() { kill "$FLOOD" "$RSS_PID" 2>/dev/null || true; }
CLEANUP_FNS+=(stop_flood)
# Wait (bounded) until the flood has filled the budgets.
for _ in $(seq 50); do
	[ "$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")" -gt $((base + 60 * 1024)) ] && break
	sleep 0.1
done

# A client with small requests is served while the flooders hold every budget (the guard's floor).
timeout 20 qemu-io -f raw -c 'write -P 0xab 0 32k' -c 'read -P 0xab 0 32k' "$NBD/disk" \
	>"$SCRATCH/qemu-io" 2>&1 || fail "a second client was not served during the flood: $(cat "$SCRATCH/qemu-io")"

wait "$FLOOD" || fail "the flood client failed: $(cat "$SCRATCH/flood")"
wait "$RSS_PID"
peak=$(cat "$SCRATCH/rss")
growth=$(((peak - base) / 1024))
echo "RSS: $((base / 1024)) MiB before, peak $((peak / 1024)) MiB (+$growth MiB); $(cat "$SCRATCH/flood")"
# Two shards of 64 MiB each, plus one request each, receive buffers and allocator slack.
[ "$growth" -lt 240 ] || fail "RSS grew by $growth MiB under unread 32 MiB READs (budget: 2 x 64 MiB)"
grep -q "has not read its replies for 4 s" "$SCRATCH/n0/sheep.log" ||
	fail "no log line for the connections that did not read their replies"
[ "$(grep -c "has not read its replies for 4 s" "$SCRATCH/n0/sheep.log")" -ge 4 ] ||
	fail "not every flooding connection was closed at the reply deadline"
grep "has not read its replies" "$SCRATCH/n0/sheep.log" | grep -q "127.0.0.1:[0-9]* to disk" ||
	fail "the log line does not name the peer and the export"
# And sheep serves as before.
timeout 20 qemu-io -f raw -c 'read -P 0xab 0 32k' "$NBD/disk" >/dev/null || fail "not served after the flood"
echo "PASS: $TEST_NAME"
