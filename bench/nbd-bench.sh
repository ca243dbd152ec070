#!/bin/bash
# NBD benchmark: fio against sheep (TCP and Unix socket; one node, one copy) and, side by side,
# nbdkit's file plugin, qemu-nbd, nbdkit's memory plugin and fio's io_uring engine straight on a
# local file (the disk itself). Each workload runs on every target in turn, BENCH_ROUNDS times
# (alternating, since these machines are noisy); the table reports the mean IOPS, latency
# percentiles and sheep/peer ratios, and is kept in bench/results/.
#
#   bash bench/nbd-bench.sh                 # defaults: 1 GiB image, 5 s per run, 2 rounds
#   BENCH_RUNTIME=10 BENCH_ROUNDS=3 BENCH_SHARDS=4 bash bench/nbd-bench.sh
#   BENCH_SHARDS=1 bash bench/nbd-bench.sh   # 2 CPUs: leave fio a core; shards then spin
#
# Needs a release build in build/ (scripts/build.sh) and fio, nbdkit, qemu-nbd.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNTIME=${BENCH_RUNTIME:-5}
ROUNDS=${BENCH_ROUNDS:-2}
SHARDS=${BENCH_SHARDS:-$(nproc)}
WORKLOADS=${BENCH_WORKLOADS:-"randread-qd32-1c randwrite-qd32-1c randread-qd32-4c randwrite-qd32-4c randread-qd1-1c seqread-1m-1c seqwrite-1m-1c"}
TARGETS=${BENCH_TARGETS:-"sheep-tcp sheep-unix nbdkit-file qemu-nbd nbdkit-memory raw-io_uring"}
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/sd-bench.XXXXXX")
OUT=$TOP/bench/results/nbd-$(date +%Y%m%d-%H%M%S)-$(hostname -s).md
PIDS=()

for c in fio nbdkit qemu-nbd; do
	command -v $c >/dev/null || { echo "nbd-bench: needs $c (scripts/install-deps.sh)"; exit 1; }
done
[ -x "$BUILD/sheep" ] || { echo "nbd-bench: build sheep first (scripts/build.sh)"; exit 1; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "${SP:-}" ] && "$BUILD/dog" -p "$SP" cluster shutdown 2>/dev/null || true
	sleep 0.5
	rm -rf "$DIR"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do nbdinfo --size "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "nbd-bench: $1 does not answer"; exit 1; }

echo "nbd-bench: ${SIZE_MB} MiB image, ${RUNTIME}s x ${ROUNDS} rounds, sheep with $SHARDS shards, in $DIR"

# The same random contents everywhere, so reads hit data, not holes.
head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/seed.img"
cp "$DIR/seed.img" "$DIR/file.img"
cp "$DIR/seed.img" "$DIR/qemu.img"
cp "$DIR/seed.img" "$DIR/raw.img"

SP=$(port); SNP=$(port)
"$BUILD/sheep" -b 127.0.0.1 -p "$SP" --shards "$SHARDS" -l notice --nbd-port "$SNP" \
	--nbd-socket "$DIR/sheep.sock" "$DIR/sheep"
"$BUILD/dog" -p "$SP" cluster format -c 1 >/dev/null
"$BUILD/dog" -p "$SP" vdi create bench "${SIZE_MB}M"
nbdcopy --connections=4 "$DIR/seed.img" "nbd://127.0.0.1:$SNP/bench"

KP=$(port); nbdkit -f -i 127.0.0.1 -p "$KP" file "$DIR/file.img" & PIDS+=($!)
QP=$(port); qemu-nbd -f raw -t -b 127.0.0.1 -p "$QP" -x bench -e 4 --cache=none --aio=io_uring \
	"$DIR/qemu.img" & PIDS+=($!)
MP=$(port); nbdkit -f -i 127.0.0.1 -p "$MP" memory "${SIZE_MB}M" & PIDS+=($!)
wait_port "nbd://127.0.0.1:$KP"; wait_port "nbd://127.0.0.1:$QP/bench"; wait_port "nbd://127.0.0.1:$MP"
nbdcopy --connections=4 "$DIR/seed.img" "nbd://127.0.0.1:$MP"
rm -f "$DIR/seed.img"

# Server CPU time (utime + stime, in clock ticks) of each target's process, read around every run
# so the table can show the server's CPU per I/O, the figure that decides IOPS on a small machine.
SHEEP_PID=$(cat "$DIR/sheep/sheep.pid")
server_pid() {
	case $1 in
	sheep-*) echo "$SHEEP_PID" ;;
	nbdkit-file) echo "${PIDS[0]}" ;;
	qemu-nbd) echo "${PIDS[1]}" ;;
	nbdkit-memory) echo "${PIDS[2]}" ;;
	*) echo "" ;;
	esac
}
cpu_ticks() { # pid: ticks of the whole process, or 0
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

target_args() {
	case $1 in
	sheep-tcp) echo "--ioengine=nbd --uri=nbd://127.0.0.1:$SNP/bench" ;;
	sheep-unix) echo "--ioengine=nbd --uri=nbd+unix:///bench?socket=$DIR/sheep.sock" ;;
	nbdkit-file) echo "--ioengine=nbd --uri=nbd://127.0.0.1:$KP" ;;
	qemu-nbd) echo "--ioengine=nbd --uri=nbd://127.0.0.1:$QP/bench" ;;
	nbdkit-memory) echo "--ioengine=nbd --uri=nbd://127.0.0.1:$MP" ;;
	raw-io_uring) echo "--ioengine=io_uring --filename=$DIR/raw.img" ;;
	esac
}

workload_args() {
	case $1 in
	randread-qd32-1c) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=1" ;;
	randwrite-qd32-1c) echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=1" ;;
	randread-qd32-4c) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=4" ;;
	randwrite-qd32-4c) echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=4" ;;
	randread-qd1-1c) echo "--rw=randread --bs=4k --iodepth=1 --numjobs=1" ;;
	seqread-1m-1c) echo "--rw=read --bs=1M --iodepth=8 --numjobs=1" ;;
	seqwrite-1m-1c) echo "--rw=write --bs=1M --iodepth=8 --numjobs=1" ;;
	esac
}

for round in $(seq "$ROUNDS"); do
	for w in $WORKLOADS; do
		for t in $TARGETS; do
			pid=$(server_pid "$t")
			before=$(cpu_ticks "$pid")
			# shellcheck disable=SC2046
			fio --name="$w" $(target_args "$t") $(workload_args "$w") --size="${SIZE_MB}M" \
				--time_based --runtime="$RUNTIME" --group_reporting --norandommap \
				--output-format=json --output="$DIR/$w.$t.$round.json" >/dev/null 2>&1 ||
				echo "nbd-bench: fio failed for $w on $t (round $round)"
			echo $(($(cpu_ticks "$pid") - before)) >"$DIR/$w.$t.$round.ticks"
			printf '.'
		done
	done
done
echo

/usr/bin/python3 - "$DIR" "$OUT" "$ROUNDS" "$WORKLOADS" "$TARGETS" "$SHARDS" "$RUNTIME" "$SIZE_MB" <<'PY'
import json, os, sys, statistics, platform, subprocess
d, out, rounds, workloads, targets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
shards, runtime, size = sys.argv[6], sys.argv[7], sys.argv[8]
hz = os.sysconf("SC_CLK_TCK")
def load(w, t, r):
    try:
        j = json.load(open(os.path.join(d, f"{w}.{t}.{r}.json")))
    except Exception:
        return None
    job = j["jobs"][0]
    side = job["write"] if "write" in w else job["read"]
    pct = side.get("clat_ns", {}).get("percentile", {})
    try:
        ticks = int(open(os.path.join(d, f"{w}.{t}.{r}.ticks")).read())
    except Exception:
        ticks = 0
    # Server CPU per I/O over the whole run (ramp and teardown included, so slightly high);
    # client CPU as fio reports it, in percent of one CPU.
    srv = ticks / hz * 1e6 / side["total_ios"] if ticks and side["total_ios"] else 0
    cli = job.get("usr_cpu", 0) + job.get("sys_cpu", 0)
    return (side["iops"], side["lat_ns"]["mean"] / 1000, pct.get("50.000000", 0) / 1000,
            pct.get("99.000000", 0) / 1000, srv, cli)
rows = []
res = {}
for w in workloads:
    for t in targets:
        runs = [x for x in (load(w, t, r) for r in range(1, rounds + 1)) if x]
        if runs:
            res[w, t] = tuple(statistics.mean(x[i] for x in runs) for i in range(6))
lines = []
lines.append(f"# NBD benchmark, {platform.node()}, {os.cpu_count()} CPUs")
lines.append("")
lines.append(f"sheep: one node, one copy, --shards {shards}. Image {size} MiB, data in the page cache;")
lines.append(f"fio {runtime} s per run, {rounds} rounds alternating targets; values are means.")
lines.append("Ratios are sheep-tcp / peer IOPS (higher is better for sheep); for QD1, also")
lines.append("the mean latency ratio (lower is better for sheep).")
lines.append("")
lines.append("Server CPU is the server process's CPU time per I/O (user + system, spinning")
lines.append("included); client CPU is fio's per job, in percent of one CPU (at 100%, the")
lines.append("client is the limit, whatever the server).")
lines.append("")
lines.append("| workload | target | IOPS | mean lat us | p50 us | p99 us | server CPU us/IO | client CPU % per job | sheep-tcp/target |")
lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for w in workloads:
    base = res.get((w, "sheep-tcp"))
    for t in targets:
        if (w, t) not in res:
            lines.append(f"| {w} | {t} | failed | | | | | | |")
            continue
        iops, mean, p50, p99, srv, cli = res[w, t]
        ratio = ""
        if base and t != "sheep-tcp" and iops:
            ratio = f"{base[0] / iops:.2f}x"
            if "qd1" in w:
                ratio += f" (lat {base[1] / mean:.2f})"
        srv_s = f"{srv:.1f}" if srv else ""
        lines.append(f"| {w} | {t} | {iops:,.0f} | {mean:.1f} | {p50:.1f} | {p99:.1f} | {srv_s} | {cli:.0f} | {ratio} |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
print("kept in", out)
PY
