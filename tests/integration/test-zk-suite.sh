#!/bin/bash
# The cluster tests over ZooKeeper: test-cluster-io (replicated I/O through every node and a
# gateway-only node) and test-cluster-restart (a restart of the whole cluster waits for its
# nodes; recover force) with CLUSTER_DRIVER=zookeeper, each against a ZooKeeper server of its
# own (functions.sh starts one on the first node's start and drops --seed).
source "$(dirname "$0")/functions.sh"
[ -f /usr/share/java/zookeeper.jar ] || { echo "SKIP: $TEST_NAME needs ZooKeeper"; exit 77; }
# The sanitizers see the driver's code in test-zk-cluster and test-zk-ensemble; this one only
# repeats the same cluster tests over the other driver, in the plain build (CI time).
[[ $BUILD != *asan* ]] || { echo "SKIP: $TEST_NAME runs in the plain build only"; exit 77; }

for t in test-cluster-io test-cluster-restart; do
	rc=0
	CLUSTER_DRIVER=zookeeper bash "$TOP/tests/integration/$t.sh" >"$SCRATCH/$t.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 77 ] || fail "$t over ZooKeeper: $(tail -25 "$SCRATCH/$t.out")"
done
echo "PASS: $TEST_NAME"
