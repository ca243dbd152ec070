#!/bin/bash
# SIGKILL sheep after writes were acknowledged; after a restart every VDI and byte is there.
. "$(dirname "$0")/functions.sh"

for store in plain tree; do
	P=$(free_port)
	D=$SCRATCH/$store
	start_sheep "$D" "$P"
	dog() { "$DOG_BIN" -p "$P" "$@"; }
	dog cluster format -c 1 -b $store >/dev/null
	for v in alpha beta gamma; do
		dog vdi create $v 32M
		random_file "$SCRATCH/$v" 5
		dog vdi write $v 3M < "$SCRATCH/$v"
	done
	dog vdi setattr beta color blue
	dog vdi list -r > "$SCRATCH/list.before"
	kill_sheep "$D" KILL
	start_sheep "$D" "$P"
	dog vdi list -r | cmp - "$SCRATCH/list.before" || fail "$store: VDI list changed across SIGKILL"
	for v in alpha beta gamma; do
		dog vdi read $v 3M 5M | cmp - "$SCRATCH/$v" || fail "$store: data of $v lost"
	done
	[ "$(dog vdi getattr beta color)" = blue ] || fail "$store: attribute lost"
	# The epoch does not move when the same node restarts.
	[ "$(dog cluster info -r | grep -c '\[')" = 1 ] || fail "$store: restart bumped the epoch"
	# A killed sheep can also be killed in the middle of a delete: the next start finishes it.
	dog vdi delete gamma
	kill_sheep "$D" KILL
	start_sheep "$D" "$P"
	dog vdi list -r | grep -q " gamma " && fail "$store: deleted VDI came back"
	dog vdi read alpha 3M 5M | cmp - "$SCRATCH/alpha" || fail "$store: alpha lost after the second kill"
	kill_sheep "$D" TERM
done
echo "PASS: $TEST_NAME"
