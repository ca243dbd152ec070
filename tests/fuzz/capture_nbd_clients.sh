#!/bin/bash
# Records what real NBD clients (nbdinfo, qemu-io, qemu-img) send to a real sheep, through
# nbd_record_proxy.py, and stores each connection's stream in corpus/nbd_conn/client-*: seeds for
# fuzz_nbd_conn that carry the option and request sequences real clients use. The node has the
# box's exports (vol0 64 MiB, vol1 4 MiB), so the streams replay in the box as they ran here.
# usage: BUILD=build-x tests/fuzz/capture_nbd_clients.sh   (not a test: run it by hand)
. "$(dirname "$0")/../integration/functions.sh"
need nbdinfo qemu-io qemu-img

OUT=$TOP/tests/fuzz/corpus/nbd_conn
P=$(free_port)
NP=$(free_port)
start_nbd_sheep "$SCRATCH/n0" "$P" "$NP"
"$DOG_BIN" vdi create -p "$P" vol0 64M
"$DOG_BIN" vdi create -p "$P" vol1 4M
PROXY=$SCRATCH/proxy.sock

# record NAME COMMAND...: runs the client against the proxy ($U, $PROXY); keeps its streams.
record() {
	local name=$1 pid
	shift
	mkdir -p "$SCRATCH/rec"
	python3 "$TOP/tests/fuzz/nbd_record_proxy.py" "$PROXY" "$NBD_SOCK" "$SCRATCH/rec" \
		"client-$name" &
	pid=$!
	for _ in $(seq 100); do [ -S "$PROXY" ] && break; sleep 0.05; done
	"$@" >/dev/null 2>&1 || fail "client $name: $*"
	sleep 0.2 # the proxy's last writes
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -f "$PROXY"
}

U="nbd+unix:///vol0?socket=$PROXY"
record nbdinfo nbdinfo "$U"
record nbdinfo-list nbdinfo --list "nbd+unix://?socket=$PROXY"
record nbdinfo-map nbdinfo --map "$U"
record qemu-img-info qemu-img info -f raw "$U"
record qemu-img-map qemu-img map -f raw --output=json "$U"
record qemu-io-rw qemu-io -f raw -c "write -P 0x11 4194000 1000" -c "read -P 0x11 4194000 1000" \
	-c "write -P 0x22 0 4096" -c "flush" -c "read -P 0 8M 64k" "$U"
record qemu-io-zero qemu-io -f raw -c "write -z 4194000 1000" -c "write -z -u 12582910 5000" \
	-c "discard 20M 8M" -c "read -P 0 20M 64k" "$U"
record qemu-io-aio qemu-io -f raw -c "aio_write -P 0x44 20M 16k" -c "aio_write -P 0x55 24M 4k" \
	-c "aio_read -P 0x44 20M 16k" -c "aio_flush" "$U"
record qemu-io-vol1 qemu-io -f raw -c "write -P 0x33 4190000 4304" -c "read 0 64k" \
	"nbd+unix:///vol1?socket=$PROXY"

n=0
for f in "$SCRATCH"/rec/client-*; do
	[ -s "$f" ] || continue
	[ "$(stat -c %s "$f")" -lt 65536 ] || { echo "skipping $f: 64 KiB or more"; continue; }
	cp "$f" "$OUT/"
	n=$((n + 1))
done
echo "$n client streams written to $OUT"
