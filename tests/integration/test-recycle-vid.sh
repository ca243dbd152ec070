#!/bin/bash
# Deleted VDI ids stay used unless the cluster was formatted with -R (recycle), and then the
# inode object itself goes too. Erasure coding is refused on a single node, with the reason.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
start_sheep "$SCRATCH/n0" "$P"
dog() { "$DOG_BIN" -p "$P" "$@"; }

dog cluster format -c 1 -R >/dev/null
[ "$(dog vdi create test 1G -v)" = "VDI ID of newly created VDI: 7c2b25" ] || fail "first id"
dog vdi delete test
[ ! -e "$SCRATCH/n0/obj/807c2b2500000000" ] || fail "inode object kept despite -R"
[ "$(dog vdi create test 1G -v)" = "VDI ID of newly created VDI: 7c2b25" ] || fail "id not recycled"

echo yes | dog cluster format -c 1 >/dev/null
dog vdi create test 1G
dog vdi delete test
[ -e "$SCRATCH/n0/obj/807c2b2500000000" ] || fail "inode object removed without -R"
[ "$(dog vdi create test 1G -v)" = "VDI ID of newly created VDI: 7c2b26" ] || fail "id reused without -R"
# The deleted id stays taken across a restart too.
kill_sheep "$SCRATCH/n0" KILL
start_sheep "$SCRATCH/n0" "$P"
dog vdi delete test
[ "$(dog vdi create test 1G -v)" = "VDI ID of newly created VDI: 7c2b27" ] || fail "id reused after a restart"

expect_exit 1 dog vdi create ec 1G -c 4:2
expect_stderr "erasure code 4:2 needs 6 nodes in different zones; this cluster has 1"
echo "PASS: $TEST_NAME"
