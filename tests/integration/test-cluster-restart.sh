#!/bin/bash
# A restart of the whole cluster (three sheep, two copies), after dog cluster shutdown and after
# a SIGKILL of every node: the nodes back first wait for the others ("Waiting for other nodes
# to join cluster", no writes) instead of removing them one by one, and once all are back the
# cluster serves the same bytes at the same epoch. With a node that does not come back,
# dog cluster recover force removes it and the two others serve. Runs with either driver
# (CLUSTER_DRIVER=zookeeper: over a ZooKeeper server of its own).
source "$(dirname "$0")/functions.sh"
need nbdsh qemu-img

read -ra ALL <<<"$(cluster_ports 3)"
PORTS=("${ALL[@]:0:3}")
NBDP=("${ALL[@]:3:3}")
uri() { echo "nbd://127.0.0.1:${NBDP[$1]}/disk"; }
members() { [ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ]; }
serving() { members "$1" "$2" && dogn "$1" cluster info | grep -q "status: running"; }
waiting() { dogn "$1" cluster info | grep -q "Waiting for other nodes to join cluster"; }
epoch() { dogn "$1" cluster info -r | awk 'NR > 1 { print $2; exit }'; }
start3() { # i: as at first, --seed included (ignored on a restart)
	if [ "$1" = 0 ]; then start_node 0 --shards 1; else
		start_node "$1" --shards 1 --seed "127.0.0.1:${PORTS[0]}"; fi
}
pids_now() { PIDS=(); for i in 0 1 2; do PIDS+=("$(cat "$SCRATCH/n$i/sheep.pid")"); done; }
gone() { # until every sheep of PIDS has exited
	local p
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || continue 2; sleep 0.1; done
		fail "sheep $p did not exit"
	done
}

for i in 0 1 2; do start3 "$i"; done
for i in 0 1 2; do until_ok 20 members "$i" 3; done
dogn 0 cluster format -c 2 >/dev/null || fail "format"
dogn 0 vdi create disk 16M || fail "create"
random_file "$SCRATCH/data" 16
nbdsh -u "$(uri 1)" -c "h.pwrite(open('$SCRATCH/data', 'rb').read(), 0); h.flush()" || fail "write"
for i in 0 1 2; do until_ok 20 serving "$i" 3; done
e=$(epoch 0)

# dog cluster shutdown; two nodes back wait for the third, well past the usual grace.
pids_now
dogn 1 cluster shutdown || fail "cluster shutdown"
gone
SHEEP_PIDS=()
start3 0
start3 1
for i in 0 1; do until_ok 30 waiting "$i"; done
sleep 6 # past the 5 s grace after which a silent member is removed, when not restarting
for i in 0 1; do waiting "$i" || fail "node $i serves without node 2: $(dogn "$i" cluster info | head -1)"; done
[ "$(epoch 0)" = "$e" ] || fail "the partial restart changed the epoch ($e -> $(epoch 0))"
start3 2
for i in 0 1 2; do until_ok 30 serving "$i" 3; done
[ "$(epoch 2)" = "$e" ] || fail "the restart changed the epoch ($e -> $(epoch 2))"
for i in 0 1 2; do
	qemu-img convert -f raw -O raw "$(uri "$i")" "$SCRATCH/img" || fail "read via $i"
	cmp <(head -c $((16 << 20)) "$SCRATCH/img") "$SCRATCH/data" || fail "node $i serves other bytes"
done

# A power loss: every node SIGKILLed at once; node 2 never returns.
pids_now
kill -9 "${PIDS[@]}"
gone
SHEEP_PIDS=()
start3 0
start3 1
for i in 0 1; do until_ok 30 waiting "$i"; done

forced=0
for i in 0 1; do dogn "$i" cluster recover force -f >/dev/null 2>&1 && forced=1; done
[ $forced = 1 ] || fail "recover force failed on both nodes: $(cat "$SCRATCH/stderr")"
for i in 0 1; do until_ok 30 serving "$i" 2; done
qemu-img convert -f raw -O raw "$(uri 0)" "$SCRATCH/img" || fail "read after recover force"
cmp <(head -c $((16 << 20)) "$SCRATCH/img") "$SCRATCH/data" || fail "other bytes after recover force"
nbdsh -u "$(uri 1)" -c 'h.pwrite(b"w" * 4096, 0); h.flush()' || fail "write after recover force"
echo "PASS: $TEST_NAME"
