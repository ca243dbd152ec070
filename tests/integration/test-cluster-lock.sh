#!/bin/bash
# VDI locks on a three-node cluster: an NBD client that writes takes its VDI's lock for the node
# it attaches through; more clients through that node share it, a client writing through
# another node is refused with the holder's name (reading is fine: backups, checks); the lock
# follows a snapshot, goes when the last writer detaches or its node is SIGKILLed, and
# dog vdi lock list|unlock|share|exclusive show and change it. Also dog vdi track, setattr -x
# races and dog cluster alter-copy.
source "$(dirname "$0")/functions.sh"
need qemu-io

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
S=$SCRATCH
ready() { cluster_ready 3; }
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
hold 1 60
until_ok 10 owned_by 1
dogn 2 vdi lock list | grep -qE "^  vol +0  cb565a +127\.0\.0\.1:$P1$" || fail "lock list: $(dogn 2 vdi lock list)"
expect_exit 1 qemu-io -f raw -c "write 0 4k" "$(nbd 2 vol)"
cat "$S/stdout" "$S/stderr" | grep -q "Operation not permitted" || fail "the write was not refused with EPERM"
# The reason goes to the client in the structured error (libnbd's debug shows it) and the log.
grep -q "a write to vol refused: VDI is locked: a client writes it through 127\.0\.0\.1:$P1" \
	"$S/n2/sheep.log" || fail "the refusal is not logged with the holder"
PATH=/usr/bin:$PATH LIBNBD_DEBUG=1 python3 -c '
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"y" * 512, 0)
except nbd.Error:
    pass' "$(nbd 2 vol)" 2>&1 | grep -q "a client writes it through 127\.0\.0\.1:$P1" ||
	fail "the client is not told who holds the lock"
# Readers through any node are fine.
qemu-io -f raw -r -c "read -P 0 8k 4k" "$(nbd 2 vol)" >/dev/null || fail "a reader through node 2 was refused"
# More clients through the same node share it (multi-conn).
attach 1 || fail "a second client through the holder's node was refused"
# The lock follows a snapshot to the new working VDI.
dogn 0 vdi snapshot vol -s s1 || fail "snapshot"
until_ok 10 owned_by 1
expect_exit 1 qemu-io -f raw -c "write 0 4k" "$(nbd 2 vol)"
cat "$S/stdout" "$S/stderr" | grep -q "Operation not permitted" || fail "the write was not refused with EPERM"
qemu-io -f raw -r -c "read 0 4k" "$(nbd 2 vol@s1)" >/dev/null || fail "snapshots are not locked"
# share: every node's clients may write it; exclusive: one node's again.
dogn 2 vdi lock share vol || fail "lock share"
attach 2 || fail "a client through node 2 of a shareable VDI was refused"
dogn 0 vdi lock list | grep -q "(shared)" || fail "shareable not listed: $(dogn 0 vdi lock list)"
dogn 0 vdi lock exclusive vol || fail "lock exclusive"
until_ok 10 owned_by 1
expect_exit 1 qemu-io -f raw -c "write 0 4k" "$(nbd 2 vol)"
# The last client detaches: the lock goes, and node 2's client gets it.
kill $HOLDER
wait $HOLDER || true
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

# dog vdi track: an object's holders in every epoch, newest first; the newest are those
# dog vdi object location names.
dogn 0 vdi track vol -i 0 >"$S/track"
epochs=$(dogn 0 cluster info | grep -cE '^[0-9]{4}-')
[ "$(grep -c 'locations at epoch' "$S/track")" -eq "$epochs" ] || fail "track: $(cat "$S/track")"
newest=$(awk '/locations at epoch/{n++} n==1 && /^127/' "$S/track" | sort | tr '\n' ' ')
placed=$(dogn 0 vdi object location vol -i 0 | tail -1 | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
[ "$newest" = "$placed" ] || fail "track's newest epoch ($newest) differs from location ($placed)"
head -2 "$S/track" | grep -qE "^obj 00cb565b00000000 locations at epoch [0-9]+, copies = 2$" ||
	fail "track header: $(head -3 "$S/track")"
expect_exit 5 dogn 0 vdi track vol -i 9
expect_stderr "not allocated"

# setattr -x: of clients racing to create an attribute through every node, exactly one wins.
for k in 0 1 2 3 4 5; do
	(dogn $((k % 2)) vdi setattr -x vol owner "client$k" 2>/dev/null && echo "$k" >>"$S/won") &
done
wait
[ "$(wc -l <"$S/won")" -eq 1 ] || fail "setattr -x winners: $(cat "$S/won")"
[ "$(dogn 1 vdi getattr vol owner)" = "client$(cat "$S/won")" ] || fail "the winner's value"

# cluster alter-copy: the default copies of new VDIs; existing ones keep theirs.
[ "$(dogn 0 cluster alter-copy -c 1 -f)" = "The cluster's redundancy level is set to 1, the old one was 2." ] ||
	fail "alter-copy message"
[ "$(dogn 1 cluster alter-copy -c 1)" = "The cluster's redundancy level is already set to 1, nothing changed." ] ||
	fail "alter-copy to the same level"
dogn 1 vdi create one 8M
dogn 0 vdi list -r one | grep -q " cb565[0-9a-f]* 1 \|^= one .* 1  22$" || fail "new VDI copies: $(dogn 0 vdi list -r one)"
dogn 0 vdi list -r vol | grep -q "^= vol .* 2  22$" || fail "vol's copies changed: $(dogn 0 vdi list -r vol)"
expect_exit 1 dogn 0 vdi create x 8M -c 3
expect_exit 1 dogn 0 cluster alter-copy -c 3 -f
expect_stderr "zone"

# Errors.
expect_exit 64 dogn 0 vdi lock frob vol
expect_exit 5 dogn 0 vdi lock unlock nosuch
echo "PASS: $TEST_NAME"
