#!/bin/bash
# Nothing a client was told is written is missing from a snapshot taken after it: on a
# three-node cluster (two copies), two NBD connections through node 1 write 4 KiB blocks, each
# block once with its own content, while snapshots are taken through node 2. Every write
# acknowledged before `dog vdi snapshot` was run must be in that snapshot (read through node 0);
# a write concurrent with it may be in it or not. None of the writes may fail, and the working
# VDI must have every one of them at the end.
source "$(dirname "$0")/functions.sh"
# The sanitizers see the same paths in test-cluster-snapshot; this one is about timing.
[[ $BUILD != *asan* ]] || { echo "SKIP: $TEST_NAME runs in the plain build only"; exit 77; }

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
S=$SCRATCH

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
until_ok 20 cluster_ready 3
dogn 1 cluster format -c 2 >/dev/null || fail "format"
until_ok 10 dogn 2 vdi create vol 32M
until_ok 10 dogn 0 vdi list vol

PATH=/usr/bin:$PATH python3 - "$(nbd 1 vol)" "$S/acked" <<'PY' &
import nbd, sys, threading, time
uri, out = sys.argv[1], sys.argv[2]
acked = []  # (block, time acknowledged)
lock = threading.Lock()
def writer(first, step):
    h = nbd.NBD()
    h.connect_uri(uri)
    for b in range(first, 8192, step):
        h.pwrite(b.to_bytes(4, "little") * 1024, b * 4096)
        with lock:
            acked.append((b, time.time()))
        time.sleep(0.0005)
ts = [threading.Thread(target=writer, args=(k, 2)) for k in range(2)]
for t in ts: t.start()
for t in ts: t.join()
with open(out, "w") as f:
    for b, t in acked:
        f.write(f"{b} {t:.6f}\n")
PY
WRITER=$!
sleep 1
for k in 1 2 3; do
	date +%s.%N >"$S/snap-$k" # before it is asked for
	dogn 2 vdi snapshot vol -s a$k || fail "snapshot a$k"
	sleep 0.7
done
wait $WRITER || fail "a write failed while snapshots were taken"
[ "$(wc -l <"$S/acked")" -eq 8192 ] || fail "$(wc -l <"$S/acked") writes acknowledged of 8192"

echo 9999999999 >"$S/snap-now"
for k in 1 2 3 now; do
	exp=vol@a$k
	[ $k = now ] && exp=vol
	PATH=/usr/bin:$PATH python3 - "$(nbd 0 $exp)" "$S/acked" "$(cat "$S/snap-$k")" <<'PY' ||
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
img = h.pread(32 << 20, 0)
t_snap = float(sys.argv[3])  # far ahead for the working VDI: every write
missing = [b for b, t in (l.split() for l in open(sys.argv[2]))
           if float(t) < t_snap and img[int(b) * 4096:int(b) * 4096 + 4096] != int(b).to_bytes(4, "little") * 1024]
before = sum(1 for l in open(sys.argv[2]) if float(l.split()[1]) < t_snap)
print(f"{sys.argv[1]}: {before} writes acknowledged before, {len(missing)} missing")
sys.exit(1 if missing or not before else 0)
PY
		fail "$exp lacks writes acknowledged before it was taken"
done
echo "PASS: $TEST_NAME"
