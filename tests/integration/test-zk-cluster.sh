#!/bin/bash
# The zookeeper cluster driver against a real ZooKeeper server (Debian's zookeeper package,
# standalone): three sheep, two copies. A SIGKILLed sheep is removed when its session expires
# and fio verify through another node sees no error; it rejoins and serves what was written
# meanwhile. A sheep cut off from ZooKeeper (its connection relayed through a proxy that is
# frozen, as in a partition) stops writes before the others remove it, and rejoins with a new
# session once healed. A sheep that was away while the log was pruned catches up from a
# snapshot. The whole cluster killed at once waits for all its nodes before it serves, and
# 'dog cluster recover force' goes on without a node that does not return.
source "$(dirname "$0")/functions.sh"
need fio nbdsh qemu-img
CLUSTER_DRIVER=zookeeper
ZK_TIMEOUT=3000
export SD_ZK_SNAPSHOT_EVERY=64

# Options the driver refuses, with what to do.
expect_exit 1 "$SHEEP" --cluster-driver zookeeper "$SCRATCH/bad"
expect_stderr "needs the ensemble: --zk HOST:PORT"
expect_exit 1 "$SHEEP" --zk 127.0.0.1:1 "$SCRATCH/bad"
expect_stderr "^--zk needs --cluster-driver zookeeper"
expect_exit 1 "$SHEEP" --cluster-driver zookeeper --zk 127.0.0.1:1 --zk-timeout 10 "$SCRATCH/bad"
expect_stderr "^Invalid ZooKeeper session timeout '10'"
expect_exit 1 "$SHEEP" --cluster-driver zookeeper --zk 127.0.0.1:1 --seed 127.0.0.1:1 "$SCRATCH/bad"
expect_stderr "^--seed needs --cluster-driver sdcluster"

read -ra ALL <<<"$(cluster_ports 4)"
PORTS=("${ALL[@]:0:4}")
NBDP=("${ALL[@]:4:4}")
zk_start 1
ZK_DIRECT=$ZK_HOSTS
uri() { echo "nbd://127.0.0.1:${NBDP[$1]}/disk"; }
serving() { # i count
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && dogn "$1" cluster info | grep -q running
}
epoch() { dogn "$1" cluster info -r | awk 'NR > 1 { print $2; exit }'; }
kill_all() { # every sheep at the same moment, as a power loss
	local pids=() i
	for i in 0 1 2; do pids+=("$(cat "$SCRATCH/n$i/sheep.pid")"); done
	kill -9 "${pids[@]}" 2>/dev/null || true
	for i in "${pids[@]}"; do while kill -0 "$i" 2>/dev/null; do sleep 0.05; done; done
	SHEEP_PIDS=()
}

# Node 1 talks to ZooKeeper through a relay that the test can freeze.
PROXY_PORT=$(free_port)
(python3 "$TOP/tests/integration/zk_proxy.py" "$PROXY_PORT" "${ZK_CLIENT_PORTS[0]}" \
	>/dev/null 2>&1 & echo $! >"$SCRATCH/proxy.pid")
PROXY=$(cat "$SCRATCH/proxy.pid")
proxy_cleanup() { kill -CONT "$PROXY" 2>/dev/null; kill -9 "$PROXY" 2>/dev/null; }
CLEANUP_FNS+=(proxy_cleanup)
start_zk_node() { # i: node 1 through the relay
	if [ "$1" = 1 ]; then ZK_HOSTS=127.0.0.1:$PROXY_PORT; else ZK_HOSTS=$ZK_DIRECT; fi
	start_node "$1" --shards 1
	ZK_HOSTS=$ZK_DIRECT
}
members() { [ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ]; }
for i in 0 1 2; do start_zk_node "$i"; done
for i in 0 1 2; do until_ok 20 members "$i" 3; done
dogn 0 cluster format -c 2 >/dev/null || fail "format"
for i in 0 1 2; do until_ok 20 serving "$i" 3; done
dogn 1 vdi create disk 32M || fail "create through node 1"
until_ok 5 dogn 2 vdi list -r disk
grep -q "zookeeper: joined the cluster" "$SCRATCH/n2/sheep.log" || fail "no join in node 2's log"

# SIGKILL node 2 during fio verify through node 0: no error, node 2 is removed.
e0=$(epoch 0)
fio --name=verify --ioengine=nbd --uri="$(uri 0)" --rw=randwrite --bs=4k --iodepth=8 \
	--size=8M --verify=crc32c --verify_fatal=1 --do_verify=1 --runtime=6 --time_based \
	--output="$SCRATCH/fio.out" >/dev/null 2>&1 &
fio_pid=$!
sleep 1.5
kill_sheep "$SCRATCH/n2"
wait $fio_pid || fail "fio failed with a node killed: $(grep -E 'err|verify' "$SCRATCH/fio.out")"
grep -q "err= 0" "$SCRATCH/fio.out" || fail "fio reported errors: $(cat "$SCRATCH/fio.out")"
until_ok 15 serving 0 2
[ "$(epoch 0)" -gt "$e0" ] || fail "no new epoch after node 2 left"

# Written while node 2 is away; the log grows past a snapshot (setattr: one command each).
random_file "$SCRATCH/away" 3
nbdsh -u "$(uri 1)" -c "h.pwrite(open('$SCRATCH/away', 'rb').read(), 20 << 20); h.flush()" ||
	fail "write with node 2 away"
for k in $(seq 100); do dogn 0 vdi setattr disk "key$k" "value$k" || fail "setattr $k"; done
until_ok 10 grep -q "zookeeper: log pruned up to index" "$SCRATCH"/n*/sheep.log
qemu-img convert -f raw -O raw "$(uri 0)" "$SCRATCH/expect"

start_zk_node 2
until_ok 20 serving 2 3
grep -q "loading a snapshot" "$SCRATCH/n2/sheep.log" || fail "node 2 did not load a snapshot"
[ "$(dogn 2 vdi getattr disk key77)" = value77 ] || fail "node 2 misses attributes"
qemu-img convert -f raw -O raw "$(uri 2)" "$SCRATCH/via2" || fail "read through node 2"
cmp "$SCRATCH/expect" "$SCRATCH/via2" || fail "node 2 serves other bytes"

# Cut node 1 off from ZooKeeper: it halts writes by itself, the others remove it once its
# session expires, and once healed it rejoins with a new session and serves.
kill -STOP "$PROXY"
until_ok 6 sh -c "'$DOG_BIN' cluster info -p ${PORTS[1]} | grep -q halted"
until_ok 15 serving 0 2
kill -CONT "$PROXY"
until_ok 30 serving 1 3
grep -q "the session expired" "$SCRATCH/n1/sheep.log" || fail "node 1 never saw its session expire"
qemu-img convert -f raw -O raw "$(uri 1)" "$SCRATCH/via1" || fail "read through node 1"
cmp "$SCRATCH/expect" "$SCRATCH/via1" || fail "node 1 serves other bytes after rejoining"

# The whole cluster killed: nodes back one by one wait for the others, no epoch goes by.
e=$(epoch 0)
kill_all
start_zk_node 0
start_zk_node 1
sleep $((ZK_TIMEOUT / 1000 + 2)) # the killed sessions expire meanwhile
dogn 0 cluster info | grep -q "Waiting for other nodes to join" ||
	fail "a partial restart serves: $(dogn 0 cluster info | head -1)"
start_zk_node 2
for i in 0 1 2; do until_ok 20 serving "$i" 3; done
[ "$(epoch 0)" = "$e" ] || fail "the restart changed the epoch ($e -> $(epoch 0))"
for i in 0 1 2; do
	qemu-img convert -f raw -O raw "$(uri "$i")" "$SCRATCH/after" || fail "read via $i"
	cmp "$SCRATCH/expect" "$SCRATCH/after" || fail "node $i serves other bytes after the restart"
done

# Killed again, and node 2 does not come back: recover force goes on without it.
kill_all
start_zk_node 0
start_zk_node 1
until_ok 20 sh -c "'$DOG_BIN' cluster info -p ${PORTS[0]} | grep -q 'Waiting for other nodes'"
dogn 0 cluster recover force -f || fail "recover force"
for i in 0 1; do until_ok 20 serving "$i" 2; done
qemu-img convert -f raw -O raw "$(uri 1)" "$SCRATCH/after" || fail "read after recover force"
cmp "$SCRATCH/expect" "$SCRATCH/after" || fail "other bytes after recover force"
echo "PASS: $TEST_NAME"
