#!/bin/bash
# A short round of the soak (scripts/soak.sh): four sheep, two copies, a mirrored NBD writer,
# random SIGKILLs, hangs and network partitions of a minority (network namespaces, as root),
# then dog cluster shutdown and a restart, and a SIGKILL of every node and a restart: no
# acknowledged byte lost, and every object's copies the same after dog vdi check.
source "$(dirname "$0")/functions.sh"
need nbdcopy
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "SKIP: needs python3-libnbd"; exit 77; }

events=${SOAK_EVENTS:-5} # every kind once (scripts/soak.sh runs them in turn first)
# Under the sanitizers one of each kind but the partition (the plain build has them all).
[[ $BUILD == *asan* ]] && events=${SOAK_EVENTS:-4}
CLUSTER_DIR=$SCRATCH/soak CLUSTER_PORT=$(free_port) CLUSTER_NBD_PORT=$(free_port) \
	"$TOP/scripts/soak.sh" -n 4 -c 2 -k "$events" -s 32 >"$SCRATCH/soak.out" 2>&1 ||
	fail "the soak failed: $(tail -30 "$SCRATCH/soak.out")"
grep -E "^soak: .*survived, 0 bytes lost, 0 objects diverged" "$SCRATCH/soak.out" ||
	fail "$(tail -5 "$SCRATCH/soak.out")"
echo "PASS: $TEST_NAME"
