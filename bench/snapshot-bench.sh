#!/bin/bash
# What snapshots and clones cost. One sheep (the local driver), and three (sdcluster, two
# copies, loopback): a VDI of BENCH_OBJECTS 4 MiB objects, filled with nbdcopy. Per round:
#
# - the time of `dog vdi snapshot` and `dog vdi clone` (wall time of the command);
# - 4 KiB writes through NBD (fio's nbd engine, queue depth BENCH_QD), one at the start of each
#   object, so that on a fresh clone every write is a copy-up (a 4 MiB read of the parent, a
#   4 MiB install on every holder, then the write), against the same writes to the plain VDI
#   the clone came from, whose objects all exist: IOPS, mean latency, and their ratio.
#
# Ratios, not absolute numbers: these machines are noisy. Results go to bench/results/.
#
#   bash bench/snapshot-bench.sh                     # 256 objects (1 GiB), 3 rounds
#   BENCH_OBJECTS=512 BENCH_ROUNDS=5 bash bench/snapshot-bench.sh
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
OBJS=${BENCH_OBJECTS:-256}
ROUNDS=${BENCH_ROUNDS:-3}
QD=${BENCH_QD:-4}
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/sd-sbench.XXXXXX")
OUT=$TOP/bench/results/snapshot-$(date +%Y%m%d-%H%M%S)-$(hostname -s).md
export CLUSTER_DIR=$DIR/c CLUSTER_PORT=${BENCH_PORT:-7700} CLUSTER_NBD_PORT=$((${BENCH_PORT:-7700} + 1000))
export CLUSTER_SHARDS=2 BUILD
CL=$TOP/scripts/cluster.sh
PORT1=$((CLUSTER_PORT + 100))
NBD1=$((CLUSTER_NBD_PORT + 100))

command -v fio >/dev/null && command -v nbdcopy >/dev/null ||
	{ echo "snapshot-bench: needs fio and nbdcopy"; exit 1; }
[ -x "$BUILD/sheep" ] || { echo "snapshot-bench: build sheep first (scripts/build.sh)"; exit 1; }
cleanup() {
	"$CL" stop >/dev/null 2>&1 || true
	[ -f "$DIR/one/sheep.pid" ] && kill "$(cat "$DIR/one/sheep.pid")" 2>/dev/null || true
	sleep 0.5
	rm -rf "$DIR"
}
trap cleanup EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }
# fio_writes URI PASSES: 4k writes at the start of every object, PASSES times over (fio wraps
# at the end); prints "IOPS MEAN_US".
fio_writes() {
	fio --name=w --ioengine=nbd --uri="$1" --rw=write:4190208 --bs=4k --iodepth="$QD" \
		--size=$((OBJS * 4))M --io_size=$((OBJS * 4 * $2))k --output-format=json \
		--output="$DIR/fio.json" \
		>/dev/null
	python3 - "$DIR/fio.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["write"]
print(f'{j["iops"]:.0f} {j["clat_ns"]["mean"] / 1000:.0f}')
PY
}

# run SETUP_NAME DOG_PORT NBD_PORT: the rounds on one setup; appends table rows. "plain" is a
# VDI whose objects are all its own; "base" is snapshotted each round, and cloned.
run() {
	local name=$1 port=$2 nport=$3 dog=("$BUILD/dog" -p "$2") k t0 snap clone plain cow v
	head -c $((OBJS * 4 * 1024 * 1024)) /dev/urandom >"$DIR/fill"
	for v in base plain; do
		"${dog[@]}" vdi create $v $((OBJS * 4))M
		nbdcopy "$DIR/fill" "nbd://127.0.0.1:$nport/$v"
	done
	for k in $(seq "$ROUNDS"); do
		t0=$(ms)
		"${dog[@]}" vdi snapshot base -s r$k
		snap=$(($(ms) - t0))
		t0=$(ms)
		"${dog[@]}" vdi clone base c$k -s r$k
		clone=$(($(ms) - t0))
		plain=$(fio_writes "nbd://127.0.0.1:$nport/plain" 8)
		cow=$(fio_writes "nbd://127.0.0.1:$nport/c$k" 1)
		read -r pi pl <<<"$plain"
		read -r ci cl <<<"$cow"
		printf '| %s | %d | %d ms | %d ms | %d | %d us | %d | %d us | %.4fx | %.0fx | %d MiB/s |\n' \
			"$name" "$k" "$snap" "$clone" "$pi" "$pl" "$ci" "$cl" \
			"$(echo "$ci / $pi" | bc -l)" "$(echo "$cl / $pl" | bc -l)" $((ci * 4)) >>"$OUT"
		"${dog[@]}" vdi delete c$k
	done
}

{
	echo "# Snapshot and clone costs, $(date -u '+%Y-%m-%d %H:%M') UTC, $(hostname -s)"
	echo
	echo "$OBJS objects of 4 MiB; 4 KiB writes at the start of each object, queue depth $QD."
	echo "Plain: the VDI's own objects. Clone: a fresh clone, every write a copy-up."
	echo
	echo "| setup | round | snapshot | clone | plain IOPS | plain mean | clone IOPS | clone mean | IOPS ratio | latency ratio | copied up |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

"$BUILD/sheep" -b 127.0.0.1 -p "$PORT1" --shards 2 --nbd-port "$NBD1" "$DIR/one"
for _ in $(seq 100); do "$BUILD/dog" -p "$PORT1" node list >/dev/null 2>&1 && break; sleep 0.1; done
"$BUILD/dog" -p "$PORT1" cluster format -c 1 >/dev/null
run "1 node" "$PORT1" "$NBD1"
kill "$(cat "$DIR/one/sheep.pid")"

"$CL" start 3 --nbd --format --copies 2 >/dev/null
sleep 1
run "3 nodes, 2 copies" "$CLUSTER_PORT" "$CLUSTER_NBD_PORT"
"$CL" stop >/dev/null

cat "$OUT"
echo "(written to $OUT)"
