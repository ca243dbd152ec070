#!/bin/bash
# Control port lock-out: 300 connections that each send one byte of a frame, then 300 clients that
# send a valid request one byte per second (on the old code every dog failed with "Connection reset
# by peer" while they were held). dog answers throughout: a full table closes the connection that
# has gone longest without completing a request, and a frame that does not arrive whole within
# the request deadline closes its connection, with a log line naming the peer.
. "$(dirname "$0")/functions.sh"

HOSTILE="/usr/bin/python3 $TOP/tests/integration/hostile.py"
P=$(free_port)
start_sheep "$SCRATCH/n0" "$P" --limits request=3
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 >/dev/null
dog vdi create admin-disk 4M

dog_answers_during() { # HOLDER_PID WHAT: dog works again and again while the holder runs
	local ok=0
	for _ in $(seq 6); do
		timeout 10 "$DOG_BIN" -p "$P" vdi list -r >"$SCRATCH/list" 2>&1 ||
			fail "dog failed during $2: $(cat "$SCRATCH/list")"
		grep -q admin-disk "$SCRATCH/list" || fail "dog's answer during $2 is wrong: $(cat "$SCRATCH/list")"
		ok=$((ok + 1))
		kill -0 "$1" 2>/dev/null || break
		sleep 0.5
	done
	echo "dog answered $ok times during $2"
}

$HOSTILE ctl-partial "$P" 300 6 >"$SCRATCH/partial" &
HOLDER=$!
stop_holder() { kill "$HOLDER" 2>/dev/null || true; }
CLEANUP_FNS+=(stop_holder)
for _ in $(seq 100); do [ -s "$SCRATCH/partial" ] && break; sleep 0.1; done
dog_answers_during "$HOLDER" "300 half-sent frames"
wait "$HOLDER" || true
grep -q "control connection limit is reached" "$SCRATCH/n0/sheep.log" ||
	fail "no connection was closed for a newcomer while the table was full"

$HOSTILE ctl-slowloris "$P" 300 8 >"$SCRATCH/slow" &
HOLDER=$!
for _ in $(seq 100); do [ -s "$SCRATCH/slow" ] && break; sleep 0.1; done
dog_answers_during "$HOLDER" "300 requests sent a byte a second"
wait "$HOLDER" || true
grep -q "from 127.0.0.1:[0-9]*: a request has been arriving for 3 s without completing" \
	"$SCRATCH/n0/sheep.log" || fail "no trickling connection was closed at the request deadline"
echo "PASS: $TEST_NAME"
