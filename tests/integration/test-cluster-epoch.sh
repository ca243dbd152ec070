#!/bin/bash
# A holder on another epoch refuses peer requests (peer_wire's OLD_NODE_VER / NEW_NODE_VER): with
# the TEST ONLY static view (cluster_view.h), node 3 is put in epoch 2 while nodes 1 and 2 are in
# epoch 1. A write that needs node 3 is retried (the gateway waits for its view to change), then
# fails with EIO and a message naming the object; a read still succeeds from the other holders.
. "$(dirname "$0")/functions.sh"

P1=$(free_port); P2=$(free_port); P3=$(free_port)
MEMBERS="127.0.0.1:$P1:1,127.0.0.1:$P2:2,127.0.0.1:$P3:3"
i=0
for p in $P1 $P2 $P3; do
	i=$((i + 1))
	epoch=1; [ $i -eq 3 ] && epoch=2
	SHEEP_TEST_STATIC_VIEW="4242,$epoch,3,$MEMBERS" start_sheep "$SCRATCH/n$i" "$p" -z $i
	"$DOG_BIN" cluster format -c 1 -p "$p" >/dev/null
	"$DOG_BIN" vdi create -p "$p" disk 8M
done

start=$(date +%s)
if head -c 4096 /dev/urandom | "$DOG_BIN" vdi write -p "$P1" disk 0 2>"$SCRATCH/err"; then
	fail "a write needing a holder of another epoch succeeded"
fi
took=$(( $(date +%s) - start ))
grep -q "object 008f8a8400000000.*retried for" "$SCRATCH/err" || fail "unclear error: $(cat "$SCRATCH/err")"
[ $took -ge 10 ] || fail "gave up after $took s without waiting for a new view"
# Nodes 1 and 2 answer reads; node 3 refuses them, which is not an error while another holder
# answers.
"$DOG_BIN" vdi read -p "$P2" disk 0 4096 >/dev/null || fail "read with a holder on another epoch"
echo "PASS: $TEST_NAME"
