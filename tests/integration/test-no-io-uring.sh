#!/bin/bash
# With io_uring disabled in the kernel, sheep refuses to start and says why and what to check.
. "$(dirname "$0")/functions.sh"

KNOB=/proc/sys/kernel/io_uring_disabled
[ -w "$KNOB" ] || { echo "SKIP: $KNOB is not writable here"; exit 77; }
OLD=$(cat "$KNOB")
restore_knob() { echo "$OLD" > "$KNOB"; }
CLEANUP_FNS+=(restore_knob)

echo 2 > "$KNOB"
expect_exit 1 "$SHEEP" -b 127.0.0.1 -p "$(free_port)" "$SCRATCH/n0"
expect_stderr "io_uring is not available .*check /proc/sys/kernel/io_uring_disabled"
restore_knob
start_sheep "$SCRATCH/n0" "$(free_port)"
echo "PASS: $TEST_NAME"
