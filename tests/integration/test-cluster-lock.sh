#!/bin/bash
# VDI locks on a three-node cluster: a read-write NBD client takes its VDI's lock for the node it
# attaches through; more clients through that node share it, a client through another node is
# refused with the holder's name; the lock follows a snapshot, goes when the last client
# detaches or its node is SIGKILLed, and dog vdi lock list|unlock|share|exclusive show and
# change it.
source "$(dirname "$0")/functions.sh"
need qemu-io

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
S=$SCRATCH
ready() {
	for i in 0 1 2; do
		[ "$(dogn $i node list -r | wc -l)" -eq 3 ] && ! dogn $i cluster info | grep -q halted ||
			return 1
	done
}
nbd() { echo "nbd://127.0.0.1:${NBDP[$1]}/$2"; }
# hold NODE SECONDS: a read-write client of vol through NODE that writes, then stays attached.
hold() {
	PATH=/usr/bin:$PATH python3 - "$(nbd "$1" vol)" "$2" <<'PY' &
import nbd, sys, time
try:
    h = nbd.NBD()
    h.connect_uri(sys.argv[1])
    h.pwrite(b"held" * 1024, 0)
    h.flush()
    time.sleep(float(sys.argv[2]))
except nbd.Error:
    pass  # its node was killed under it
PY
	HOLDER=$!
}
# attach NODE: a client through NODE can open vol (qemu-io writes and reads a block).
attach() { qemu-io -f raw -c "write -P 7 4096 4096" -c "read -P 7 4096 4096" "$(nbd "$1" vol)" >"$S/attach.out" 2>&1 || { cat "$S/attach.out"; return 1; }; }
owner() { dogn 0 vdi lock list -r vol | awk '{print $4}'; }
owned_by() { [ "$(owner)" = "127.0.0.1:${PORTS[$1]}" ]; }
unlocked() { [ -z "$(dogn 0 vdi lock list -r)" ]; }

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
until_ok 20 ready
dogn 1 cluster format -c 2 >/dev/null || fail "format"
until_ok 10 dogn 2 vdi create vol 64M
until_ok 10 dogn 0 vdi list vol

# A client through node 1 holds the lock; node 2's client is refused, with the reason.
hold 1 8
until_ok 10 owned_by 1
dogn 2 vdi lock list | grep -qE "^  vol +0  cb565a +127\.0\.0\.1:$P1$" || fail "lock list: $(dogn 2 vdi lock list)"
expect_exit 1 qemu-io -f raw -c "read 0 4k" "$(nbd 2 vol)"
expect_stderr "VDI vol is locked: a client writes it through 127\.0\.0\.1:$P1"
# More clients through the same node share it (multi-conn).
attach 1 || fail "a second client through the holder's node was refused"
# The lock follows a snapshot to the new working VDI.
dogn 0 vdi snapshot vol -s s1 || fail "snapshot"
until_ok 10 owned_by 1
expect_exit 1 qemu-io -f raw -c "read 0 4k" "$(nbd 2 vol)"
expect_stderr "is locked"
qemu-io -f raw -r -c "read 0 4k" "$(nbd 2 vol@s1)" >/dev/null || fail "snapshots are not locked"
# share: every node's clients may write it; exclusive: one node's again.
dogn 2 vdi lock share vol || fail "lock share"
attach 2 || fail "a client through node 2 of a shareable VDI was refused"
dogn 0 vdi lock list | grep -q "(shared)" || fail "shareable not listed: $(dogn 0 vdi lock list)"
dogn 0 vdi lock exclusive vol || fail "lock exclusive"
until_ok 10 owned_by 1
expect_exit 1 qemu-io -f raw -c "read 0 4k" "$(nbd 2 vol)"
# The last client detaches: the lock goes, and node 2's client gets it.
wait $HOLDER
until_ok 15 unlocked
attach 2 || fail "node 2's client refused after the holder detached"

# unlock frees it whoever holds it; a client still attached takes it back.
hold 2 6
until_ok 10 owned_by 2
dogn 0 vdi lock unlock vol || fail "lock unlock"
until_ok 10 owned_by 2
wait $HOLDER
until_ok 15 unlocked

# The holder's node SIGKILLed: its lock goes when the cluster removes it.
hold 2 60
until_ok 10 owned_by 2
kill_sheep "$S/n2" KILL
kill $HOLDER 2>/dev/null || true
until_ok 30 unlocked
attach 0 || fail "client through node 0 refused after the holder's node died"

# Errors.
expect_exit 64 dogn 0 vdi lock frob vol
expect_exit 5 dogn 0 vdi lock unlock nosuch
echo "PASS: $TEST_NAME"
