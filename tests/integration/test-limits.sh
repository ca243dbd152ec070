#!/bin/bash
# Resource limits: a low open-file limit (the fd cache shrinks and evicts, every write still
# succeeds), and more control connections than the limit (idle ones make room; dog still works).
. "$(dirname "$0")/functions.sh"

P=$(free_port)
( ulimit -n 200; start_sheep "$SCRATCH/n0" "$P" )
SHEEP_PIDS+=("$(cat "$SCRATCH/n0/sheep.pid")")
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 -z 20 >/dev/null   # 1 MiB objects: many files
dog vdi create many 400M
random_file "$SCRATCH/data" 300
dog vdi write many < "$SCRATCH/data" || fail "writing 300 objects under 'ulimit -n 200'"
dog vdi read many 0 300M | cmp - "$SCRATCH/data" || fail "data differs under a low fd limit"

# 300 idle connections to a sheep with a normal fd limit (its connection limit is 256): the
# least recently used idle ones make room, so dog still gets through.
P=$(free_port)
start_sheep "$SCRATCH/n1" "$P"
dog cluster format -c 1 >/dev/null
dog vdi create many 4M
/usr/bin/python3 - "$P" "$SCRATCH/holding" <<'PY' &
import socket, sys, time
socks = []
for _ in range(300):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
    except OSError:
        pass
open(sys.argv[2], "w").write("%d\n" % len(socks))
time.sleep(30)
PY
HOLDER=$!
stop_holder() { kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null || true; }
CLEANUP_FNS+=(stop_holder)
# Slow machines take a while to open 300 connections: wait for them (bounded), not a fixed time.
for _ in $(seq 100); do [ -s "$SCRATCH/holding" ] && break; sleep 0.2; done
[ -s "$SCRATCH/holding" ] || fail "the idle connections were not all opened within 20 s"
[ "$(dog vdi list -r many | awk '{print $2}')" = many ] || fail "dog locked out by idle connections"
# sheep accepts the queued connections at its own pace: look for the eviction a while.
for _ in $(seq 50); do
	grep -q "control connection limit is reached" "$SCRATCH/n1/sheep.log" && break
	sleep 0.2
done
grep -q "control connection limit is reached" "$SCRATCH/n1/sheep.log" ||
	fail "no eviction logged ($(cat "$SCRATCH/holding") connections held)"
stop_holder
echo "PASS: $TEST_NAME"
