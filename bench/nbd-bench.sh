#!/bin/bash
# NBD benchmark: fio against sheep (TCP and Unix socket; one node, one copy) and, side by side,
# nbdkit's file plugin, qemu-nbd, nbdkit's memory plugin and fio's io_uring engine straight on a
# local file (the disk itself). Each workload runs on every target in turn, BENCH_ROUNDS times
# (alternating, since these machines are noisy; each round starts at the next target, so that no
# target always runs first, after the refill, or after the same neighbour's dirty pages); the
# table reports the mean IOPS, latency
# percentiles and sheep/peer ratios with their spread over the rounds, and is kept in
# bench/results/.
#
# Fair by construction: every target is filled the same way (nbdcopy, 256 KiB requests unless
# BENCH_FILL_REQUEST says otherwise, four connections), and before each round the page cache is dropped and every target rewritten the
# same way (BENCH_REFILL=write, the default) or read through once (BENCH_REFILL=read), so that
# all of them run on the same page-cache folio layout; the layout each saw is recorded
# (bench/folio_layout.py; needs root, as dropping the cache does).
#
#   bash bench/nbd-bench.sh                 # defaults: 1 GiB image, 5 s per run, 2 rounds
#   BENCH_RUNTIME=10 BENCH_ROUNDS=3 BENCH_SHARDS=4 bash bench/nbd-bench.sh
#   BENCH_SHARDS=1 bash bench/nbd-bench.sh   # 2 CPUs: leave fio a core; shards then spin
#   BENCH_ALT_ENV="SHEEP_WRITE_CHUNK=0" BENCH_TARGETS="sheep-tcp sheep-alt nbdkit-file" \
#       bash bench/nbd-bench.sh   # A/B in one run: a second sheep started with that environment
#   BENCH_ALT_ARGS="--shards 1" ...  # or with more options (the later --shards wins)
#   BENCH_ALT_BUILD=/tmp/old/build ...  # or another build of sheep (an older commit)
#
# Needs a release build in build/ (scripts/build.sh) and fio, nbdkit, qemu-nbd.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNTIME=${BENCH_RUNTIME:-5}
ROUNDS=${BENCH_ROUNDS:-2}
REFILL=${BENCH_REFILL:-write}
FILL_REQ=${BENCH_FILL_REQUEST:-262144} # bytes per fill request (qemu-img convert writes up to 2 MiB)
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
	[ -n "${AP:-}" ] && "$BUILD/dog" -p "$AP" cluster shutdown 2>/dev/null || true
	sleep 0.5
	rm -rf "$DIR"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do nbdinfo --size "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "nbd-bench: $1 does not answer"; exit 1; }

echo "nbd-bench: ${SIZE_MB} MiB image, ${RUNTIME}s x ${ROUNDS} rounds, sheep with $SHARDS shards, in $DIR"

# The same random contents everywhere, so reads hit data, not holes; every target gets them the
# same way (fill_target), after its server has started on an empty image.
head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/seed.img"
for f in file qemu raw; do truncate -s "${SIZE_MB}M" "$DIR/$f.img"; done

SP=$(port); SNP=$(port)
"$BUILD/sheep" -b 127.0.0.1 -p "$SP" --shards "$SHARDS" -l notice --nbd-port "$SNP" \
	--nbd-socket "$DIR/sheep.sock" "$DIR/sheep"
"$BUILD/dog" -p "$SP" cluster format -c 1 >/dev/null
"$BUILD/dog" -p "$SP" vdi create bench "${SIZE_MB}M"

# sheep-alt: the same sheep with BENCH_ALT_ENV in its environment (e.g. another setting to compare),
# or BENCH_ALT_BUILD's.
ALT_BUILD=${BENCH_ALT_BUILD:-$BUILD}
ALT_PID=
if [[ " $TARGETS " == *" sheep-alt "* ]]; then
	AP=$(port); ANP=$(port)
	# shellcheck disable=SC2086
	env ${BENCH_ALT_ENV:-} "$ALT_BUILD/sheep" -b 127.0.0.1 -p "$AP" --shards "$SHARDS" -l notice \
		--nbd-port "$ANP" ${BENCH_ALT_ARGS:-} "$DIR/sheep-alt"
	"$BUILD/dog" -p "$AP" cluster format -c 1 >/dev/null
	"$BUILD/dog" -p "$AP" vdi create bench "${SIZE_MB}M"
	ALT_PID=$(cat "$DIR/sheep-alt/sheep.pid")
fi

KP=$(port); nbdkit -f -i 127.0.0.1 -p "$KP" file "$DIR/file.img" & PIDS+=($!)
QP=$(port); qemu-nbd -f raw -t -b 127.0.0.1 -p "$QP" -x bench -e 4 --cache=none --aio=io_uring \
	"$DIR/qemu.img" & PIDS+=($!)
MP=$(port); nbdkit -f -i 127.0.0.1 -p "$MP" memory "${SIZE_MB}M" & PIDS+=($!)
wait_port "nbd://127.0.0.1:$KP"; wait_port "nbd://127.0.0.1:$QP/bench"; wait_port "nbd://127.0.0.1:$MP"

# Where each target's bytes are: its NBD URI (none for the raw file) and its files on disk.
target_uri() {
	case $1 in
	sheep-tcp | sheep-unix) echo "nbd://127.0.0.1:$SNP/bench" ;;
	sheep-alt) echo "nbd://127.0.0.1:$ANP/bench" ;;
	nbdkit-file) echo "nbd://127.0.0.1:$KP" ;;
	qemu-nbd) echo "nbd://127.0.0.1:$QP/bench" ;;
	nbdkit-memory) echo "nbd://127.0.0.1:$MP" ;;
	raw-io_uring) echo "$DIR/raw.img" ;;
	esac
}
target_files() {
	case $1 in
	sheep-tcp | sheep-unix) echo "$DIR/sheep/obj" ;;
	sheep-alt) echo "$DIR/sheep-alt/obj" ;;
	nbdkit-file) echo "$DIR/file.img" ;;
	qemu-nbd) echo "$DIR/qemu.img" ;;
	raw-io_uring) echo "$DIR/raw.img" ;;
	esac
}
# The distinct stores behind the targets (sheep-tcp and sheep-unix share one).
stores() { for t in $TARGETS; do [ "$t" = sheep-unix ] && [[ " $TARGETS " == *" sheep-tcp "* ]] || echo "$t"; done; }
fill_target() { # target: the seed written the same way everywhere
	# nbdcopy evicts what it writes to a local file from the page cache: the raw file gets the
	# same 256 KiB writes from dd instead.
	if [ "$1" = raw-io_uring ]; then
		dd if="$DIR/seed.img" of="$DIR/raw.img" bs="$FILL_REQ" conv=notrunc status=none
	else
		nbdcopy --connections=4 --request-size="$FILL_REQ" "$DIR/seed.img" "$(target_uri "$1")"
	fi
}
can_drop=false
[ -w /proc/sys/vm/drop_caches ] && can_drop=true
# Before a round: the page cache dropped, then every store rewritten (or read) identically.
refill() { # round
	local t
	if $can_drop; then
		sync
		echo 3 >/proc/sys/vm/drop_caches
	fi
	for t in $(stores); do
		case $REFILL in
		write) fill_target "$t" ;;
		read)
			if [ "$t" = raw-io_uring ]; then
				dd if="$DIR/raw.img" of=/dev/null bs="$FILL_REQ" status=none
			else
				nbdcopy --connections=4 --request-size="$FILL_REQ" "$(target_uri "$t")" null:
			fi
			;;
		esac
		sync
		if $can_drop && [ -n "$(target_files "$t")" ]; then
			# shellcheck disable=SC2046
			echo "$t $(/usr/bin/python3 "$TOP/bench/folio_layout.py" $(target_files "$t") 2>&1)" \
				>>"$DIR/layout.$1"
		fi
	done
}
for t in $(stores); do fill_target "$t"; done

# Server CPU time (utime + stime, in clock ticks) of each target's process, read around every run
# so the table can show the server's CPU per I/O, the figure that decides IOPS on a small machine.
SHEEP_PID=$(cat "$DIR/sheep/sheep.pid")
server_pid() {
	case $1 in
	sheep-alt) echo "$ALT_PID" ;;
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
	sheep-unix) echo "--ioengine=nbd --uri=nbd+unix:///bench?socket=$DIR/sheep.sock" ;;
	raw-io_uring) echo "--ioengine=io_uring --filename=$DIR/raw.img" ;;
	*) echo "--ioengine=nbd --uri=$(target_uri "$1")" ;;
	esac
}

workload_args() {
	case $1 in
	randread-qd32-1c) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=1" ;;
	randwrite-qd32-1c) echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=1" ;;
	randread-qd32-4c) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=4" ;;
	randwrite-qd32-4c) echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=4" ;;
	randread-qd1-1c) echo "--rw=randread --bs=4k --iodepth=1 --numjobs=1" ;;
	# Not in the default set:
	randwrite-qd1-1c) echo "--rw=randwrite --bs=4k --iodepth=1 --numjobs=1" ;;
	randread-qd1-4c) echo "--rw=randread --bs=4k --iodepth=1 --numjobs=4" ;;
	seqread-1m-1c) echo "--rw=read --bs=1M --iodepth=8 --numjobs=1" ;;
	seqwrite-1m-1c) echo "--rw=write --bs=1M --iodepth=8 --numjobs=1" ;;
	esac
}

# The targets in the order round $1 runs them: rotated by one each round.
rotated() {
	local -a ts
	local i
	read -r -a ts <<<"$TARGETS"
	for ((i = 0; i < ${#ts[@]}; i++)); do echo "${ts[(i + $1 - 1) % ${#ts[@]}]}"; done
}

for round in $(seq "$ROUNDS"); do
	refill "$round"
	for w in $WORKLOADS; do
		for t in $(rotated "$round"); do
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

/usr/bin/python3 - "$DIR" "$OUT" "$ROUNDS" "$WORKLOADS" "$TARGETS" "$SHARDS" "$RUNTIME" "$SIZE_MB" \
	"$REFILL" "$can_drop" "${SHEEP_WRITE_CHUNK:-default}" "${BENCH_ALT_ENV:-} ${BENCH_ALT_ARGS:-}" "$FILL_REQ" "${BENCH_ALT_BUILD:-}" <<'PY'
import json, os, sys, statistics, platform, subprocess
d, out, rounds, workloads, targets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
shards, runtime, size = sys.argv[6], sys.argv[7], sys.argv[8]
refill, dropped, chunk, alt = sys.argv[9], sys.argv[10] == "true", sys.argv[11], sys.argv[12]
fill_kib = int(sys.argv[13]) // 1024
alt_build = sys.argv[14]
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
per_round = {}
for w in workloads:
    for t in targets:
        runs = {r: load(w, t, r) for r in range(1, rounds + 1)}
        per_round[w, t] = {r: x for r, x in runs.items() if x}
        runs = list(per_round[w, t].values())
        if runs:
            res[w, t] = tuple(statistics.mean(x[i] for x in runs) for i in range(6))
def spread(w, t, i):
    """sheep-tcp / t of column i in each round where both ran: (mean, min, max)."""
    a, b = per_round.get((w, "sheep-tcp"), {}), per_round.get((w, t), {})
    rs = [(a[r][i] / b[r][i]) for r in a if r in b and b[r][i]]
    return (statistics.mean(rs), min(rs), max(rs)) if rs else None
lines = []
lines.append(f"# NBD benchmark, {platform.node()}, {os.cpu_count()} CPUs")
lines.append("")
lines.append(f"sheep: one node, one copy, --shards {shards}. Image {size} MiB, data in the page cache;")
lines.append(f"fio {runtime} s per run, {rounds} rounds alternating targets (each round starting at the next); values are means.")
lines.append("Ratios are sheep-tcp / peer IOPS (higher is better for sheep), the mean over the")
lines.append("rounds with its range [min-max]; for QD1, also the mean latency ratio (lower is")
lines.append("better for sheep).")
lines.append("")
lines.append(f"Every target filled with nbdcopy ({fill_kib} KiB requests, 4 connections); before each")
lines.append(f"round: page cache {'dropped' if dropped else 'NOT dropped (not root)'}, then every store "
             f"{'rewritten that way' if refill == 'write' else 'read through once'} (BENCH_REFILL={refill}).")
lines.append(f"sheep's inline write pieces: SHEEP_WRITE_CHUNK={chunk}.")
if alt_build:
    lines.append(f"sheep-alt: the sheep built in {alt_build}" + (f", started with {alt.strip()}." if alt.strip() else "."))
elif alt.strip():
    lines.append(f"sheep-alt: the same sheep started with {alt.strip()}.")
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
        sp = spread(w, t, 0) if t != "sheep-tcp" else None
        if sp:
            ratio = f"{sp[0]:.2f}x [{sp[1]:.2f}-{sp[2]:.2f}]"
            lat = spread(w, t, 1) if "qd1" in w else None
            if lat:
                ratio += f" (lat {lat[0]:.2f} [{lat[1]:.2f}-{lat[2]:.2f}])"
        srv_s = f"{srv:.1f}" if srv else ""
        lines.append(f"| {w} | {t} | {iops:,.0f} | {mean:.1f} | {p50:.1f} | {p99:.1f} | {srv_s} | {cli:.0f} | {ratio} |")
lines.append("")
lines.append("Page-cache folio layout of each store after each round's refill (bench/folio_layout.py):")
lines.append("")
for r in range(1, rounds + 1):
    try:
        for l in open(os.path.join(d, f"layout.{r}")):
            lines.append(f"- round {r}: {l.strip()}")
    except OSError:
        lines.append(f"- round {r}: not recorded (needs root)")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
print("kept in", out)
PY
