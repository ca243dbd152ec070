#!/bin/bash
# dog vdi check (sdcluster, three sheep, three copies): a copy that differs from the two others
# is rewritten from them ("fixed replica"); a holder that lost a copy while it was down (and
# recovery paused) is named by 'vdi check -e' and 'vdi object location', and has it again after
# the check ("fixed missing"); afterwards every object's copies agree and the VDI reads as
# written; a check while the VDI is being written is refused; a second check finds nothing;
# 'cluster check' checks every VDI and reports an object no VDI owns.
source "$(dirname "$0")/functions.sh"
need nbdsh qemu-img

read -r P0 P1 P2 N0 N1 N2 <<<"$(cluster_ports 3)"
PORTS=("$P0" "$P1" "$P2")
NBDP=("$N0" "$N1" "$N2")
serving() { # node count
	[ "$(dogn "$1" node list -r | wc -l)" -eq "$2" ] && ! dogn "$1" cluster info | grep -q halted
}
check() { # node: dog vdi check, retried while the write lease is still held (5 s idle)
	for _ in $(seq 40); do
		dogn "$1" vdi check disk >"$SCRATCH/check" 2>&1 && return 0
		grep -q "being written" "$SCRATCH/check" || break
		sleep 0.25
	done
	fail "dog vdi check failed: $(cat "$SCRATCH/check")"
}

start_node 0
start_node 1 --seed "127.0.0.1:$P0"
start_node 2 --seed "127.0.0.1:$P0"
for i in 0 1 2; do until_ok 20 serving $i 3; done
dogn 0 cluster format -c 3 >/dev/null || fail "format"
dogn 0 vdi create disk 24M || fail "create"
random_file "$SCRATCH/a" 24
nbdsh -u "nbd://127.0.0.1:$N0/disk" -c "h.pwrite(open('$SCRATCH/a', 'rb').read(), 0); h.flush()" ||
	fail "write"

# Written a moment ago through node 0, which still holds the write lease: refused.
expect_exit 1 dogn 1 vdi check disk
expect_stderr "is being written"

# One copy of object 2 is made to differ (a block of another content, as an interrupted
# write would leave it); node 2 loses its copy of another object while it is stopped.
vid=$(dogn 0 vdi list -r disk | awk '{print $8}')
obj2=$(printf '%08x%08x' "0x$vid" 2)
mapfile -t H < <(ls "$SCRATCH"/n*/obj/"$obj2")
[ ${#H[@]} -eq 3 ] || fail "object $obj2 is on ${#H[@]} nodes"
# Not node 2's: node 2 is restarted below, and a restart may pull its copies again.
bad=${H[0]}
[[ $bad == "$SCRATCH/n2/"* ]] && bad=${H[1]}
printf 'not the data' | dd of="$bad" bs=1 seek=8192 conv=notrunc status=none
dogn 0 cluster recover disable >/dev/null || fail "recover disable"
kill_sheep "$SCRATCH/n2" TERM
lost=$(ls "$SCRATCH/n2/obj" | grep -E '^00' | grep -v "$obj2" | head -1)
[ -n "$lost" ] || fail "node 2 holds no other object"
rm "$SCRATCH/n2/obj/$lost"
start_node 2
for i in 0 1 2; do until_ok 20 serving $i 3; done

# -e names the holder without its copy (and repairs nothing); so does object location.
dogn 0 vdi check -e disk >"$SCRATCH/exist" 2>&1 && fail "check -e found nothing missing"
grep -qx "\[127.0.0.1:$P2\] oid $lost is missing." "$SCRATCH/exist" ||
	fail "check -e: $(cat "$SCRATCH/exist")"
grep -qx "disk lost 1 object(s)." "$SCRATCH/exist" || fail "check -e: $(cat "$SCRATCH/exist")"
dogn 1 vdi object location disk -i $((16#${lost:8})) >"$SCRATCH/loc" || fail "object location"
grep -qx "Looking for the object $lost (vid 0x$vid idx $((16#${lost:8})), 3 copies) with 3 nodes" \
	"$SCRATCH/loc" || fail "object location: $(cat "$SCRATCH/loc")"
grep -qx "127.0.0.1:$P2 doesn't have the object" "$SCRATCH/loc" || fail "$(cat "$SCRATCH/loc")"
[ "$(grep -c "has the object" "$SCRATCH/loc")" -eq 2 ] || fail "$(cat "$SCRATCH/loc")"
tail -1 "$SCRATCH/loc" | grep -q "127.0.0.1:$P2" || fail "placement: $(cat "$SCRATCH/loc")"
expect_exit 64 dogn 0 vdi object where disk
expect_exit 1 dogn 0 vdi object location disk -i 6
expect_stderr "index 6 is past the end of VDI disk"

check 1
grep -qx "fixed replica $obj2" "$SCRATCH/check" || fail "no replica fixed: $(cat "$SCRATCH/check")"
grep -qx "fixed missing $lost" "$SCRATCH/check" || fail "no copy restored: $(cat "$SCRATCH/check")"
dogn 0 cluster recover enable >/dev/null || fail "recover enable"
dogn 0 vdi check -e disk >"$SCRATCH/exist" || fail "check -e after the repair: $(cat "$SCRATCH/exist")"
[ "$(cat "$SCRATCH/exist")" = "disk is fine, no object is missing." ] || fail "$(cat "$SCRATCH/exist")"
grep -qx "finish check&repair disk" "$SCRATCH/check" || fail "$(cat "$SCRATCH/check")"
why=$(copies_agree 3 0 1 2) || fail "after the check: $why"
# The damaged copy took the two others' content (the data written), not the other way round.
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$N2/disk" "$SCRATCH/img" || fail "read back"
cmp <(head -c $((24 << 20)) "$SCRATCH/img") "$SCRATCH/a" || fail "the VDI changed"
check 2
[ "$(cat "$SCRATCH/check")" = "finish check&repair disk" ] ||
	fail "a second check found more: $(cat "$SCRATCH/check")"
# dog cluster check: every VDI (in id order), as the original prints it.
dogn 0 vdi create empty 8M || fail "create empty"
out=$(dogn 2 cluster check) || fail "cluster check: $out"
for v in disk empty; do
	grep -A1 -x "fix vdi $v" <<<"$out" | tail -1 | grep -qx "finish check&repair $v" ||
		fail "cluster check printed: $out"
done
[ "$(wc -l <<<"$out")" -eq 4 ] || fail "cluster check printed: $out"
# An object of a VDI id nobody has (as a node away during a delete keeps): reported, not read.
cp "$SCRATCH/n1/obj/$obj2" "$SCRATCH/n1/obj/00abcdef00000003"
out=$(dogn 0 cluster check) || fail "cluster check: $out"
grep -qx "orphan object 00abcdef00000003 on 127.0.0.1:$P1: no image owns it" <<<"$out" ||
	fail "no orphan reported: $out"
grep -q "^1 orphan object" <<<"$out" || fail "cluster check printed: $out"
echo "PASS: $TEST_NAME"
