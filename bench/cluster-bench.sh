#!/bin/bash
# Cluster benchmark: what replication costs. fio's nbd engine against one sheep with one copy,
# and against three sheep (sdcluster, on loopback) with three copies, the client on node 0's NBD
# export. 4k random reads and writes at QD32 over 4 connections and at QD1, alternating targets
# for BENCH_ROUNDS rounds (these machines are noisy). The table gives IOPS, latency, the CPU time
# of all sheep processes per I/O, and the three-node/one-node ratios; kept in bench/results/.
# randwrite-fsync-qd1 flushes after every write: the cost of a guest's fsync.
#
#   bash bench/cluster-bench.sh                   # 256 MiB VDI, 5 s per run, 2 rounds
#   BENCH_RUNTIME=10 BENCH_ROUNDS=3 BENCH_SHARDS=1 bash bench/cluster-bench.sh
#
# Targets on a 2-CPU machine (issue 7): writes at least 50% of one node's IOPS, reads at least
# 90%, QD1 write latency at most twice one node's. Needs a release build in build/ and fio.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SIZE_MB=${BENCH_SIZE_MB:-256}
RUNTIME=${BENCH_RUNTIME:-5}
ROUNDS=${BENCH_ROUNDS:-2}
SHARDS=${BENCH_SHARDS:-1}
WORKLOADS=${BENCH_WORKLOADS:-"randread-qd32-4c randwrite-qd32-4c randread-qd1-1c randwrite-qd1-1c randwrite-fsync-qd1"}
TARGETS="one-node three-nodes"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/sd-cbench.XXXXXX")
OUT=$TOP/bench/results/cluster-$(date +%Y%m%d-%H%M%S)-$(hostname -s).md
BASE1=${BENCH_PORT:-7400}
BASE3=$((BASE1 + 20))
# Both targets are prefilled the same way; the request size sets the page-cache folio size the
# 4k writes then pay for (issue 10: ext4 walks every buffer head of a large folio).
PREFILL_REQ=${BENCH_PREFILL_REQ:-262144}
# The same spin policy on both sides, so the ratio is the cost of replication alone.
SPIN1=${BENCH_SPIN1:-${BENCH_SPIN3:-0}}

command -v fio >/dev/null || { echo "cluster-bench: needs fio"; exit 1; }
[ -x "$BUILD/sheep" ] || { echo "cluster-bench: build sheep first (scripts/build.sh)"; exit 1; }

cleanup() {
	CLUSTER_DIR=$DIR/three CLUSTER_PORT=$BASE3 BUILD=$BUILD "$TOP/scripts/cluster.sh" stop || true
	[ -f "$DIR/one/sheep.pid" ] && kill "$(cat "$DIR/one/sheep.pid")" 2>/dev/null || true
	sleep 0.5
	rm -rf "$DIR"
}
trap cleanup EXIT

echo "cluster-bench: ${SIZE_MB} MiB VDI, ${RUNTIME}s x ${ROUNDS} rounds, $SHARDS shard(s) per sheep"
head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/seed.img"

# One node, one copy.
NBD1=$((BASE1 + 1000))
SHEEP_SPIN_US=$SPIN1 "$BUILD/sheep" -b 127.0.0.1 -p "$BASE1" --shards "$SHARDS" -l notice --nbd-port "$NBD1" "$DIR/one"
"$BUILD/dog" -p "$BASE1" cluster format -c 1 >/dev/null
"$BUILD/dog" -p "$BASE1" vdi create bench "${SIZE_MB}M"
nbdcopy --connections=4 --request-size="$PREFILL_REQ" "$DIR/seed.img" "nbd://127.0.0.1:$NBD1/bench"

# Three nodes, three copies. Three sheep share this machine's CPUs with fio: a shard that spins
# before it sleeps (SHEEP_SPIN_US) would take another sheep's time, so they do not spin (on
# their own hosts they would). BENCH_SPIN3 overrides.
NBD3=$((BASE3 + 1000))
SHEEP_SPIN_US=${BENCH_SPIN3:-0} CLUSTER_DIR=$DIR/three CLUSTER_PORT=$BASE3 CLUSTER_NBD_PORT=$NBD3 CLUSTER_SHARDS=$SHARDS \
	BUILD=$BUILD "$TOP/scripts/cluster.sh" start 3 --nbd --format --copies 3
"$BUILD/dog" -p "$BASE3" vdi create bench "${SIZE_MB}M"
nbdcopy --connections=4 --request-size="$PREFILL_REQ" "$DIR/seed.img" "nbd://127.0.0.1:$NBD3/bench"
rm -f "$DIR/seed.img"

pids_of() {
	case $1 in
	one-node) cat "$DIR/one/sheep.pid" ;;
	three-nodes) cat "$DIR"/three/node*/sheep.pid ;;
	esac
}
cpu_ticks() { # pids...: ticks of all of them
	local sum=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo $sum
}
uri_of() {
	case $1 in
	one-node) echo "nbd://127.0.0.1:$NBD1/bench" ;;
	three-nodes) echo "nbd://127.0.0.1:$NBD3/bench" ;;
	esac
}
workload_args() {
	case $1 in
	randread-qd32-4c) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=4" ;;
	randwrite-qd32-4c) echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=4" ;;
	randread-qd1-1c) echo "--rw=randread --bs=4k --iodepth=1 --numjobs=1" ;;
	randwrite-qd1-1c) echo "--rw=randwrite --bs=4k --iodepth=1 --numjobs=1" ;;
	# A FLUSH after every write: what a guest's fsync costs (only written holders are asked).
	randwrite-fsync-qd1) echo "--rw=randwrite --bs=4k --iodepth=1 --numjobs=1 --fsync=1" ;;
	esac
}

for round in $(seq "$ROUNDS"); do
	for w in $WORKLOADS; do
		for t in $TARGETS; do
			# shellcheck disable=SC2046
			before=$(cpu_ticks $(pids_of "$t"))
			# shellcheck disable=SC2046
			fio --name="$w" --ioengine=nbd --uri="$(uri_of "$t")" $(workload_args "$w") \
				--size="${SIZE_MB}M" --time_based --runtime="$RUNTIME" --group_reporting \
				--norandommap --output-format=json --output="$DIR/$w.$t.$round.json" \
				>/dev/null 2>&1 || echo "cluster-bench: fio failed for $w on $t"
			# shellcheck disable=SC2046
			echo $(($(cpu_ticks $(pids_of "$t")) - before)) >"$DIR/$w.$t.$round.ticks"
			printf '.'
		done
	done
done
echo

/usr/bin/python3 - "$DIR" "$OUT" "$ROUNDS" "$WORKLOADS" "$TARGETS" "$SHARDS" "$RUNTIME" "$SIZE_MB" "$PREFILL_REQ" "$SPIN1" "${BENCH_SPIN3:-0}" <<'PY'
import json, os, sys, statistics, platform
d, out, rounds, workloads, targets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
shards, runtime, size = sys.argv[6], sys.argv[7], sys.argv[8]
prefill, spin1, spin3 = sys.argv[9], sys.argv[10], sys.argv[11]
hz = os.sysconf("SC_CLK_TCK")
def load(w, t, r):
    try:
        job = json.load(open(os.path.join(d, f"{w}.{t}.{r}.json")))["jobs"][0]
    except Exception:
        return None
    side = job["write"] if "write" in w else job["read"]
    pct = side.get("clat_ns", {}).get("percentile", {})
    ticks = int(open(os.path.join(d, f"{w}.{t}.{r}.ticks")).read() or 0)
    srv = ticks / hz * 1e6 / side["total_ios"] if side["total_ios"] else 0
    return (side["iops"], side["lat_ns"]["mean"] / 1000, pct.get("99.000000", 0) / 1000, srv)
res = {}
for w in workloads:
    for t in targets:
        runs = [x for x in (load(w, t, r) for r in range(1, rounds + 1)) if x]
        if runs:
            res[w, t] = tuple(statistics.mean(x[i] for x in runs) for i in range(4))
L = [f"# Cluster benchmark, {platform.node()}, {os.cpu_count()} CPUs", "",
     f"one-node: one sheep, one copy. three-nodes: three sheep (sdcluster) on this machine, three",
     f"copies, fio on node 0's NBD export. Shards spin {spin1} us (one node) and {spin3} us (three",
     f"nodes) before sleeping. --shards {shards} per sheep, VDI {size} MiB prefilled by nbdcopy",
     f"with {prefill}-byte requests (the page-cache folio size later 4k writes pay for).",
     f"{runtime} s per run, {rounds} rounds alternating; values are means. Server CPU is the CPU",
     "time of every sheep process per I/O. Ratio: three-nodes / one-node (IOPS; for QD1 also",
     "the mean latency ratio).", "",
     "| workload | target | IOPS | mean lat us | p99 us | server CPU us/IO | ratio |",
     "|---|---|---:|---:|---:|---:|---:|"]
for w in workloads:
    base = res.get((w, "one-node"))
    for t in targets:
        if (w, t) not in res:
            L.append(f"| {w} | {t} | failed | | | | |")
            continue
        iops, mean, p99, srv = res[w, t]
        ratio = ""
        if base and t != "one-node" and base[0]:
            ratio = f"{iops / base[0]:.2f}"
            if "qd1" in w:
                ratio += f" (lat {mean / base[1]:.2f})"
        L.append(f"| {w} | {t} | {iops:,.0f} | {mean:.1f} | {p99:.1f} | {srv:.1f} | {ratio} |")
text = "\n".join(L) + "\n"
open(out, "w").write(text)
print(text)
print("kept in", out)
PY
