#!/bin/bash
# Garbage, truncated and oversized frames on the control port close only that connection;
# bad sheep and dog arguments get clear errors and the right exit codes.
. "$(dirname "$0")/functions.sh"

P=$(free_port)
start_sheep "$SCRATCH/n0" "$P"
dog() { "$DOG_BIN" -p "$P" "$@"; }
dog cluster format -c 1 >/dev/null
dog vdi create disk 8M
echo hello | dog vdi write disk

send_raw "$P" 'GET / HTTP/1.0\r\n\r\n'                   # garbage: not a frame we can decode
send_raw "$P" '\xff\xff\xff\xff'                          # oversized length
send_raw "$P" '\x00\x00\x10\x00abc'                       # truncated, then closed
send_raw "$P" '\x00\x00\x00\x05\xff\xff\xff\xff\xff'      # a frame that is not protobuf
send_raw "$P" '\x00\x00\x00\x00'                          # empty request: version mismatch reply
send_raw "$P" '\x00\x00\x00\x02\x08\x01'                  # version 1, no operation
kill -0 "$(cat "$SCRATCH/n0/sheep.pid")" || fail "sheep died on bad input"
[ "$(dog vdi read disk 0 6)" = hello ] || fail "sheep stopped serving after bad input"
grep -q "closing control connection from 127.0.0.1:[0-9]*: malformed request frame" "$SCRATCH/n0/sheep.log" || fail "no log line for the bad frame"
grep -q "frame larger than the protocol maximum" "$SCRATCH/n0/sheep.log" || fail "no log line for the oversized frame"

# Many connections at once, each sending half a frame and hanging up.
for i in $(seq 50); do send_raw "$P" '\x00\x00\x00\x10\x08' & done
wait
[ "$(dog vdi read disk 0 6)" = hello ] || fail "sheep stopped serving after a connection storm"

# dog argument errors.
expect_exit 64 dog
expect_exit 64 dog frobnicate
expect_stderr "Invalid command 'frobnicate'"
expect_exit 64 dog vdi frobnicate
expect_exit 64 dog vdi create
expect_stderr "Not enough arguments"
expect_exit 64 dog vdi delete a b
expect_stderr "Too many arguments"
expect_exit 64 "$DOG_BIN" -p 70000 vdi list
expect_stderr "Invalid port number '70000'"
expect_exit 64 dog vdi create x 1G -c 99
expect_stderr "Invalid parameter 99"
expect_exit 2 "$DOG_BIN" -p "$(free_port)" vdi list
expect_stderr "failed to connect to 127.0.0.1:[0-9]+: Connection refused"
expect_exit 64 dog vdi delete disk --prealloc
expect_stderr "Invalid option '--prealloc' for 'dog vdi delete'"
dog vdi list -r | grep -q "^= disk " || fail "a rejected option still ran the command"
expect_exit 64 dog cluster format -z 22junk
expect_stderr "Invalid block size shift '22junk'"
grep -q "^Usage: dog vdi create <vdiname> <size>" <<<"$(dog vdi create --help)" || fail "help"

# sheep argument errors.
expect_exit 1 "$SHEEP" -p 0 "$SCRATCH/x"
expect_stderr "Invalid port number '0'"
expect_exit 1 "$SHEEP" -v 70000 "$SCRATCH/x"
expect_stderr "Invalid number of vnodes '70000'"
expect_exit 1 "$SHEEP" -z -1 "$SCRATCH/x"
expect_stderr "Invalid zone id"
expect_exit 1 "$SHEEP" -g -v 64 "$SCRATCH/x"
expect_exit 1 "$SHEEP" -l chatty "$SCRATCH/x"
expect_exit 1 "$SHEEP"
expect_stderr "no data directory"
expect_exit 1 "$SHEEP" --nfs "$SCRATCH/x"
expect_stderr "not available in this version"
# Captured first: grep -q stops reading at the match, and sheep's write of the rest would fail.
"$SHEEP" --help >"$SCRATCH/help" || fail "sheep --help exited $?"
grep -q "^Usage: sheep \[OPTIONS\] DIR" "$SCRATCH/help" || fail "sheep --help: $(head -3 "$SCRATCH/help")"
echo "PASS: $TEST_NAME"
