#!/bin/bash
# What a client was promised survives SIGKILL: writes followed by FLUSH (issued on another
# connection too: CAN_MULTI_CONN), FUA writes, new objects (their map entries), trims.
. "$(dirname "$0")/functions.sh"
need nbdsh

P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
"$DOG_BIN" -p "$P" vdi create disk 64M
random_file "$SCRATCH/a" 4

# Connection 1 writes (new objects, unaligned, across a boundary), connection 2 flushes; a FUA
# write needs no flush; a trimmed object must stay trimmed.
nbdsh -c '
import os
a = open("'"$SCRATCH/a"'", "rb").read()
h1 = h
h1.connect_uri("'"$NBD/disk"'")
h2 = nbd.NBD()
h2.connect_uri("'"$NBD_SOCK"'".join(("nbd+unix:///disk?socket=", "")))
h1.pwrite(a, 6 << 20)                  # objects 1 and 2
h1.pwrite(a[:4096], 40 << 20, nbd.CMD_FLAG_FUA)
h1.pwrite(a, 20 << 20)
h1.trim(4 << 20, 20 << 20)             # object 5 again
h2.flush()
'
kill_sheep "$SCRATCH/n0" KILL
start_sheep "$SCRATCH/n0" "$P" --nbd-port "$NP" --nbd-socket "$NBD_SOCK"
grep -q "removing .* objects" "$SCRATCH/n0/sheep.log" && fail "the start-up sweep removed acknowledged objects"
nbdsh -u "$NBD/disk" -c '
a = open("'"$SCRATCH/a"'", "rb").read()
assert h.pread(len(a), 6 << 20) == a, "flushed write lost"
assert h.pread(4096, 40 << 20) == a[:4096], "FUA write lost"
assert h.pread(4 << 20, 20 << 20) == bytes(4 << 20), "trimmed object came back"
assert h.pread(4 << 20, 0) == bytes(4 << 20), "untouched object is not zero"
'

# SIGTERM with a client connected and requests flowing: sheep closes the connection and exits
# cleanly (under ASan, with nothing leaked).
nbdsh -u "$NBD/disk" -c '
import time
try:
    for i in range(100000):
        h.pread(4096, (i % 1000) * 4096)
except nbd.Error:
    pass
' &
CLIENT=$!
sleep 0.3
kill_sheep "$SCRATCH/n0" TERM
wait $CLIENT || true
grep -q "sheep exits" "$SCRATCH/n0/sheep.log" || fail "sheep did not exit cleanly with a client connected"
echo "PASS: $TEST_NAME"
