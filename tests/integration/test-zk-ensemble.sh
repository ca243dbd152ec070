#!/bin/bash
# The zookeeper cluster driver on a real 3-server ZooKeeper ensemble (loopback): three sheep,
# two copies, each given the whole ensemble. The loss of the ZooKeeper leader while a client
# writes costs the client no error and the cluster no epoch (sessions move to another server);
# with two of three servers gone the ensemble has no quorum and every sheep halts writes; once
# they are back the cluster serves the same bytes again.
source "$(dirname "$0")/functions.sh"
need nbdsh qemu-img
CLUSTER_DRIVER=zookeeper
ZK_TIMEOUT=4000

read -ra ALL <<<"$(cluster_ports 3)"
PORTS=("${ALL[@]:0:3}")
NBDP=("${ALL[@]:3:3}")
zk_start 3
uri() { echo "nbd://127.0.0.1:${NBDP[$1]}/disk"; }
members() { [ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ]; }
serving() { members "$1" "$2" && dogn "$1" cluster info | grep -q running; }
halted() { dogn "$1" cluster info | grep -q halted; }
epoch() { dogn "$1" cluster info -r | awk 'NR > 1 { print $2; exit }'; }
zk_leader() {
	local i
	for i in 0 1 2; do [ "$(zk_mode "$i")" = leader ] && { echo "$i"; return 0; }; done
	return 1
}

for i in 0 1 2; do start_node "$i" --shards 1; done
for i in 0 1 2; do until_ok 20 members "$i" 3; done
dogn 0 cluster format -c 2 >/dev/null || fail "format"
dogn 0 vdi create disk 16M || fail "create"
for i in 0 1 2; do until_ok 20 serving "$i" 3; done
e=$(epoch 0)

# A client writes and flushes through node 1 for a few seconds while the ZooKeeper leader is
# SIGKILLed: every request succeeds (the gateway waits out the switch), no sheep leaves.
leader=$(zk_leader) || fail "the ensemble has no leader"
nbdsh -u "$(uri 1)" -c '
import os, time
end = time.time() + 7
i = 0
while time.time() < end:
    h.pwrite(os.urandom(65536), (i % 64) * 65536)
    h.flush()
    i += 1
open("'"$SCRATCH"'/writes", "w").write(str(i))
' >"$SCRATCH/writer.out" 2>&1 &
writer=$!
sleep 1.5
zk_kill "$leader"
wait $writer || fail "the writer failed while the ZooKeeper leader was lost: $(cat "$SCRATCH/writer.out")"
[ "$(cat "$SCRATCH/writes")" -gt 10 ] || fail "the writer made no progress"
until_ok 20 zk_leader
for i in 0 1 2; do until_ok 20 serving "$i" 3; done
[ "$(epoch 0)" = "$e" ] || fail "losing the ZooKeeper leader changed the epoch ($e -> $(epoch 0))"
zk_run "$leader"
until_ok 60 zk_serving "$leader"

# Two servers of three gone: no quorum, every sheep stops writes on its own.
qemu-img convert -f raw -O raw "$(uri 0)" "$SCRATCH/expect"
down=()
for i in 0 1 2; do [ ${#down[@]} -lt 2 ] && down+=("$i"); done
for i in "${down[@]}"; do zk_kill "$i"; done
for i in 0 1 2; do until_ok 15 halted "$i"; done
for i in "${down[@]}"; do zk_run "$i"; done
for i in 0 1 2; do until_ok 60 serving "$i" 3; done
for i in 0 1 2; do
	qemu-img convert -f raw -O raw "$(uri "$i")" "$SCRATCH/after" || fail "read via $i"
	cmp "$SCRATCH/expect" "$SCRATCH/after" || fail "node $i serves other bytes after the outage"
done
nbdsh -u "$(uri 2)" -c 'h.pwrite(b"z" * 4096, 0); h.flush()' || fail "write after the outage"
echo "PASS: $TEST_NAME"
