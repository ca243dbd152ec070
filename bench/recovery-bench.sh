#!/bin/bash
# What the recovery throttle buys: client latency while a node takes its share. Three sheep
# (sdcluster, two copies, loopback) hold a VDI filled with nbdcopy; node 2 is replaced by an
# empty one (a new disk), which pulls about a third of the objects. fio's nbd engine runs 4k
# random reads and writes (70/30) at queue depth 1 on node 0's export from the moment node 2
# joins until its recovery ends (fio is stopped then, so every run measures the recovery
# window only). Three runs per round, in turn: no recovery (the baseline, a fixed window),
# recovery unthrottled, and recovery throttled (BENCH_THROTTLE="MAX INTERVAL_MS", default
# "1 100": one object per 100 ms per node). The table gives each run's mean and 99th percentile
# latency, IOPS, the ratios to the baseline, and how long the recovery took; kept in
# bench/results/.
#
#   bash bench/recovery-bench.sh                       # 512 MiB VDI, 2 rounds
#   BENCH_SIZE_MB=1024 BENCH_ROUNDS=3 BENCH_THROTTLE="2 100" bash bench/recovery-bench.sh
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SIZE_MB=${BENCH_SIZE_MB:-512}
ROUNDS=${BENCH_ROUNDS:-2}
read -r TMAX TINT <<<"${BENCH_THROTTLE:-1 100}"
RUNTIME=${BENCH_RUNTIME:-8} # the baseline's window
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/sd-rbench.XXXXXX")
OUT=$TOP/bench/results/recovery-$(date +%Y%m%d-%H%M%S)-$(hostname -s).md
export CLUSTER_DIR=$DIR/c CLUSTER_PORT=${BENCH_PORT:-7600} CLUSTER_NBD_PORT=$((${BENCH_PORT:-7600} + 1000))
export CLUSTER_SHARDS=1 BUILD
CL=$TOP/scripts/cluster.sh
P0=$CLUSTER_PORT
P2=$((CLUSTER_PORT + 4))
URI=nbd://127.0.0.1:$CLUSTER_NBD_PORT/bench
DOG=("$BUILD/dog")

command -v fio >/dev/null || { echo "recovery-bench: needs fio"; exit 1; }
[ -x "$BUILD/sheep" ] || { echo "recovery-bench: build sheep first (scripts/build.sh)"; exit 1; }
cleanup() {
	"$CL" stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

recovering() { # whether any node still recovers
	[ "$("${DOG[@]}" node recovery -p "$P0" 2>/dev/null | wc -l)" -gt 2 ]
}
wait_recovered() {
	for _ in $(seq 10); do recovering && break; sleep 0.1; done
	for _ in $(seq 1200); do recovering || return 0; sleep 0.1; done
	echo "recovery-bench: recovery did not end" >&2
	return 1
}
members() { [ "$("${DOG[@]}" node list -r -p "$P0" | wc -l)" -eq "$1" ]; }

# Node 2 leaves for good (its data gone) and the two others recover without it.
drop_node2() {
	kill -9 "$(cat "$CLUSTER_DIR/node2/sheep.pid")"
	rm -rf "$CLUSTER_DIR/node2"
	for _ in $(seq 300); do members 2 && break; sleep 0.1; done
	wait_recovered
}

# fio on node 0: for $1 seconds ("idle"), or while node 2 joins empty and recovers (stopped
# with SIGINT, on which fio reports what it did so far). Prints
# "read_mean_us read_p99_us write_mean_us write_p99_us iops recovery_s".
run() {
	local secs=$1 mode=$2 t0 t1 rec=0
	[ "$mode" = idle ] || secs=600
	fio --name=client --ioengine=nbd --uri="$URI" --rw=randrw --rwmixread=70 --bs=4k \
		--iodepth=1 --size="${SIZE_MB}M" --time_based --runtime="$secs" \
		--output-format=json --output="$DIR/fio.json" >/dev/null 2>&1 &
	local fio_pid=$!
	sleep 0.5
	if [ "$mode" != idle ]; then
		t0=$(date +%s.%N)
		"$CL" restart 2 --nbd >/dev/null
		wait_recovered
		t1=$(date +%s.%N)
		rec=$(awk "BEGIN { print $t1 - $t0 }")
		kill -INT $fio_pid
	fi
	wait $fio_pid || true
	python3 - "$DIR/fio.json" "$rec" <<'PY'
import json, sys
text = open(sys.argv[1]).read()  # after SIGINT fio may say so before the JSON
j = json.loads(text[text.index("{"):])["jobs"][0]
def lat(d):
    c = d["clat_ns"]
    return c["mean"] / 1000, c.get("percentile", {}).get("99.000000", 0) / 1000
rm, rp = lat(j["read"]); wm, wp = lat(j["write"])
print(f"{rm:.0f} {rp:.0f} {wm:.0f} {wp:.0f} {j['read']['iops'] + j['write']['iops']:.0f} {float(sys.argv[2]):.1f}")
PY
}

echo "recovery-bench: ${SIZE_MB} MiB VDI, 2 copies, throttle $TMAX per $TINT ms, $ROUNDS rounds"
"$CL" start 3 --nbd --format --copies 2 >/dev/null
"${DOG[@]}" vdi create bench "${SIZE_MB}M" -p "$P0"
head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/seed.img"
nbdcopy --connections=4 "$DIR/seed.img" "$URI"
rm -f "$DIR/seed.img"


results=()
for r in $(seq "$ROUNDS"); do
	for mode in idle unthrottled throttled; do
		drop_node2
		if [ "$mode" = throttled ]; then
			"${DOG[@]}" node recovery set-throttle "$TMAX" "$TINT" -p "$P0" >/dev/null
		else
			"${DOG[@]}" node recovery set-throttle 0 0 -p "$P0" >/dev/null
		fi
		# The idle run needs node 2 back too, joined before fio starts.
		if [ "$mode" = idle ]; then
			"$CL" restart 2 --nbd >/dev/null
			wait_recovered
		fi
		line=$(run "$RUNTIME" "$mode")
		echo "round $r $mode: $line"
		results+=("$r $mode $line")
	done
done

python3 - "$OUT" "$SIZE_MB" "$TMAX" "$TINT" "$RUNTIME" "${results[@]}" <<'PY'
import sys, statistics as st
out, size, tmax, tint, runtime = sys.argv[1:6]
rows = [l.split() for l in sys.argv[6:]]
by = {}
for r in rows:
    by.setdefault(r[1], []).append([float(x) for x in r[2:]])
def med(mode, k):
    return st.median(v[k] for v in by[mode])
lines = [f"# Recovery throttle: client latency while a node takes its share\n",
         f"{size} MiB VDI, 2 copies, 3 sheep (1 shard each) on loopback; node 2 replaced by an empty one",
         f"while fio (nbd engine, 4k randrw 70/30, QD1) runs on node 0, from the join to the end of the",
         f"recovery (the baseline: {runtime} s without recovery). Throttle: {tmax} object(s) per {tint} ms per",
         f"node. Medians over {len(by['idle'])} rounds; ratios to the run without recovery.\n",
         "| run | read mean us | read p99 us | write mean us | write p99 us | IOPS | read mean x | write mean x | IOPS x | recovery s |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for mode in ("idle", "unthrottled", "throttled"):
    rm, rp, wm, wp, iops, rec = (med(mode, k) for k in range(6))
    lines.append(f"| {mode} | {rm:.0f} | {rp:.0f} | {wm:.0f} | {wp:.0f} | {iops:.0f} | "
                 f"{rm / med('idle', 0):.2f} | {wm / med('idle', 2):.2f} | {iops / med('idle', 4):.2f} | "
                 f"{rec:.1f} |")
lines.append("\nEvery run:\n")
lines += [f"    round {r[0]} {r[1]}: read {r[2]}/{r[3]} us, write {r[4]}/{r[5]} us (mean/p99), "
          f"{r[6]} IOPS, recovery {r[7]} s" for r in rows]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "recovery-bench: results in $OUT"
