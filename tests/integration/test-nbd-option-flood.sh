#!/bin/bash
# An NBD option flood during the handshake: clients repeat NBD_OPT_LIST and never read (on the old
# code RSS reached 4.3 GiB in 18 s). sheep stops reading a client's options once 1 MiB of handshake
# replies waits for it, and closes it at the handshake deadline, naming it in the log; RSS stays
# small and other clients are served meanwhile.
. "$(dirname "$0")/functions.sh"
need nbdinfo

HOSTILE="/usr/bin/python3 $TOP/tests/integration/hostile.py"
P=$(free_port)
NP=$(free_port)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16"
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP" --limits handshake=3
for i in $(seq 20); do "$DOG_BIN" vdi create -p "$P" "a-rather-long-export-name-to-fill-the-list-$i" 4M; done
PID=$(cat "$SCRATCH/n0/sheep.pid")
base=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")

$HOSTILE rss "$PID" 7 >"$SCRATCH/rss" &
RSS_PID=$!
$HOSTILE nbd-option-flood "$NP" 4 6 >"$SCRATCH/flood" 2>&1 &
FLOOD=$!
stop_flood() { kill "$FLOOD" "$RSS_PID" 2>/dev/null || true; }
CLEANUP_FNS+=(stop_flood)
sleep 1
# Over the Unix socket: libnbd 1.14 corks the last piece of LIST_META_CONTEXT with MSG_MORE, so over
# TCP each export costs it 200 ms of the kernel's cork timer.
nbdinfo --list "nbd+unix:///?socket=$NBD_SOCK" >"$SCRATCH/list" 2>&1 || fail "nbdinfo --list failed during the flood: $(cat "$SCRATCH/list")"
grep -q "a-rather-long-export-name-to-fill-the-list-7" "$SCRATCH/list" || fail "the listing is incomplete"

wait "$FLOOD" || fail "the flood client failed: $(cat "$SCRATCH/flood")"
wait "$RSS_PID"
peak=$(cat "$SCRATCH/rss")
growth=$(((peak - base) / 1024))
echo "RSS: $((base / 1024)) MiB before, peak $((peak / 1024)) MiB (+$growth MiB); $(cat "$SCRATCH/flood")"
[ "$growth" -lt 40 ] || fail "RSS grew by $growth MiB under an option flood"
[ "$(grep -c "the handshake did not finish within 3 s" "$SCRATCH/n0/sheep.log")" -ge 4 ] ||
	fail "the flooding connections were not all closed at the handshake deadline"
grep "handshake did not finish" "$SCRATCH/n0/sheep.log" | grep -q "from 127.0.0.1:[0-9]*" ||
	fail "the log line does not name the peer"
echo "PASS: $TEST_NAME"
