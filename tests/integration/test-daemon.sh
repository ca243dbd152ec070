#!/bin/bash
# The daemon: pid file and log, one sheep per directory, port conflicts, SIGTERM and
# `dog cluster shutdown` stop it cleanly, SIGHUP reopens the log, foreground mode logs to stderr.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
D=$SCRATCH/n0
start_sheep "$D" "$P" -l debug
[ -s "$D/sheep.pid" ] || fail "no pid file"
grep -q "NOTICE .*sheepdog daemon (version .*) started" "$D/sheep.log" || fail "no start line in the log"

expect_exit 1 "$SHEEP" -b 127.0.0.1 -p "$(free_port)" "$D"
expect_stderr "another sheep is already running on"
expect_exit 1 "$SHEEP" -b 127.0.0.1 -p "$P" "$SCRATCH/other"
expect_stderr "Address already in use"

kill_sheep "$D" TERM
grep -q "sheep exits" "$D/sheep.log" || fail "SIGTERM did not shut down cleanly"
[ ! -e "$D/sheep.pid" ] || fail "pid file left behind"

start_sheep "$D" "$P"
PID=$(cat "$D/sheep.pid")
# SIGHUP reopens the log (logrotate moved it) and sheep goes on serving.
mv "$D/sheep.log" "$D/sheep.log.1"
kill -HUP "$PID"
for _ in $(seq 200); do grep -qs "log reopened" "$D/sheep.log" && break; sleep 0.05; done
grep -qs "log reopened" "$D/sheep.log" || fail "SIGHUP did not reopen the log"
"$DOG_BIN" -p "$P" node list >/dev/null || fail "sheep does not answer after SIGHUP"
"$DOG_BIN" -p "$P" cluster shutdown
for _ in $(seq 400); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null && fail "dog cluster shutdown did not stop sheep"

# Foreground: no fork, log lines on stderr.
"$SHEEP" -f -b 127.0.0.1 -p "$P" --shards 1 "$D" 2>"$SCRATCH/fg.err" &
FG=$!
SHEEP_PIDS+=("$FG")
for _ in $(seq 400); do "$DOG_BIN" -p "$P" node list >/dev/null 2>&1 && break; sleep 0.05; done
kill -TERM "$FG"
wait "$FG" || fail "foreground sheep exited non-zero after SIGTERM"
grep -q "sheep exits" "$SCRATCH/fg.err" || fail "foreground log is not on stderr"
echo "PASS: $TEST_NAME"
