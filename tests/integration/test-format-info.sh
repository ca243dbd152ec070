#!/bin/bash
# dog cluster format / info / node list / node info: outputs in the original's formats.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
start_sheep "$SCRATCH/n0" "$P"
dog() { "$DOG_BIN" -p "$P" "$@"; }

dog cluster info >"$SCRATCH/out"
grep -qx "Cluster status: Waiting for cluster to be formatted" "$SCRATCH/out" || fail "status before format: $(cat "$SCRATCH/out")"
expect_exit 2 dog vdi create a 1G
expect_stderr "not formatted yet: run 'dog cluster format'"

dog cluster format -c 1 | grep -qx "using backend plain store" || fail "format output"
dog cluster info >"$SCRATCH/out"
sed -n 1p "$SCRATCH/out" | grep -qx "Cluster status: running, auto-recovery enabled" || fail "status line"
sed -n 2p "$SCRATCH/out" | grep -qx "" || fail "blank line after the status"
sed -n 3p "$SCRATCH/out" | grep -qE "^Cluster created at [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}$" || fail "created line"
sed -n 5p "$SCRATCH/out" | grep -qx "Epoch Time           Version \[Host:Port:V-Nodes,,,\]" || fail "epoch header"
sed -n 6p "$SCRATCH/out" | grep -qE "^[0-9-]{10} [0-9:]{8}      1 \[127\.0\.0\.1:$P:128\]$" || fail "epoch line: $(sed -n 6p "$SCRATCH/out")"
dog cluster info -r | grep -qE "^[0-9]+ 1 \[127\.0\.0\.1:$P:128\]$" || fail "raw epoch line"
dog cluster info -v | grep -qx "Cluster store: plain with 1 redundancy policy" || fail "verbose store line"

dog node list >"$SCRATCH/out"
sed -n 1p "$SCRATCH/out" | grep -qx "  Id   Host:Port         V-Nodes       Zone" || fail "node list header"
printf '   0   %-20s\t128   16777343\n' "127.0.0.1:$P" | cmp -s - <(sed -n 2p "$SCRATCH/out") || fail "node list row: $(sed -n 2p "$SCRATCH/out" | od -c | head -3)"
dog node list -r | grep -qx "0 127.0.0.1:$P 128 16777343" || fail "raw node list"

dog node info >"$SCRATCH/out"
sed -n 1p "$SCRATCH/out" | grep -qx "$(printf 'Id\tSize\tUsed\tAvail\tUse%%')" || fail "node info header"
sed -n 2p "$SCRATCH/out" | grep -qE "^ 0	[0-9.]+ [MGTP]B	[0-9.]+ [MGTP]B	[0-9.]+ [MGTP]B	 *[0-9]+%$" || fail "node info row: $(sed -n 2p "$SCRATCH/out")"
grep -qx "$(printf 'Total virtual image size\t0.0 MB')" "$SCRATCH/out" || fail "total virtual size"
dog node info -r | grep -qE "^Total [0-9]+ [0-9]+ [0-9]+ [0-9]+% 0$" || fail "raw node info total"

# A non-empty cluster asks before formatting; anything but "yes" keeps the data.
dog vdi create keep 1G
echo no | dog cluster format -c 1 >/dev/null
dog vdi list -r | grep -q "^= keep " || fail "format without 'yes' erased data"
echo yes | dog cluster format -c 1 -b tree >/dev/null
[ -z "$(dog vdi list -r)" ] || fail "format with 'yes' kept VDIs"
dog cluster info -v | grep -qx "Cluster store: tree with 1 redundancy policy" || fail "tree store"
expect_exit 1 dog cluster format -b ext4
expect_stderr "Targeted backend store is not found"
# More copies than zones is a clear error, for the cluster and for a VDI; the default is kept.
expect_exit 1 dog cluster format -c 3
expect_stderr "cannot keep 3 copies: this cluster has 1 zone .*ask for 1 copy \(-c 1\)"
expect_exit 1 dog vdi create -c 2 two-copies 1G
expect_stderr "cannot keep 2 copies: this cluster has 1 zone"
expect_exit 64 dog cluster format -c 0
expect_exit 64 dog cluster format -c 3:1
expect_stderr "x\(2,4,8,16\)"
echo "PASS: $TEST_NAME"
