#!/bin/bash
# The soak: N sheep (scripts/cluster.sh), a writer through NBD whose acknowledged writes are
# mirrored in a local file, and meanwhile SIGKILLs of random nodes (restarted at once, or after
# the cluster removed them), hangs (SIGSTOP for a few seconds), network partitions of a random
# minority (long enough to be removed, then healed), and at the end 'dog cluster shutdown' and
# a start of every node, then a SIGKILL of every node and a start again. Then, once recovery is
# over, every node's view of the VDI is compared with the mirror (blocks whose write failed are
# left out: either content is right) and every object's copies with each other. As root with
# ip(8) the nodes run in network namespaces (partitions need them); else on loopback, without
# partitions.
#
#   scripts/soak.sh [-n NODES] [-c COPIES] [-k EVENTS] [-s VDI_MB]
#
# Prints "soak: E events (K kills, P partitions) survived, B bytes lost, D objects diverged (U
# of them only where a write failed)" and exits 1 if acknowledged bytes were lost, copies
# differ anywhere else, or the cluster stopped serving. Defaults: 5 nodes, 2 copies, 20 events,
# 64 MiB. Needs a build (BUILD, default build/), nbdsh's Python module, nbdcopy. SOAK_KEEP=1
# keeps the data; SOAK_NET=A.B.C picks the namespaces' network (default: a random 10.x.y).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
NODES=5 COPIES=2 EVENTS=20 SIZE_MB=64
while getopts "n:c:k:s:" o; do
	case $o in
	n) NODES=$OPTARG ;;
	c) COPIES=$OPTARG ;;
	k) EVENTS=$OPTARG ;;
	s) SIZE_MB=$OPTARG ;;
	*) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 64 ;;
	esac
done
export BUILD=${BUILD:-$TOP/build}
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d /tmp/sd-soak.XXXXXX)}
export CLUSTER_PORT=${CLUSTER_PORT:-7300} CLUSTER_NBD_PORT=${CLUSTER_NBD_PORT:-8300}
export CLUSTER_SHARDS=${CLUSTER_SHARDS:-1}
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns list >/dev/null 2>&1; then
	export CLUSTER_NET=${SOAK_NET:-10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))}
fi
W=$CLUSTER_DIR/writer
DOG=$BUILD/dog
CL=$TOP/scripts/cluster.sh
addr() { if [ -n "${CLUSTER_NET:-}" ]; then echo "$CLUSTER_NET.$(($1 + 1))"; else echo 127.0.0.1; fi; }
port() { if [ -n "${CLUSTER_NET:-}" ]; then echo 7000; else echo $((CLUSTER_PORT + 2 * $1)); fi; }
nbd_uri() { # i
	if [ -n "${CLUSTER_NET:-}" ]; then echo "nbd://$(addr "$1"):10809/soak"
	else echo "nbd://127.0.0.1:$((CLUSTER_NBD_PORT + $1))/soak"; fi
}
dogn() { # i dog-arguments...
	local i=$1
	shift
	"$DOG" "$@" -a "$(addr "$i")" -p "$(port "$i")"
}
pid_of() { cat "$CLUSTER_DIR/node$1/sheep.pid" 2>/dev/null || true; }
log() { echo "soak: $*"; }
# Every object's copies compared: prints "DIFFERING UNACKED_ONLY" (objects whose copies differ
# or are not COPIES, and those that differ only in blocks of writes that failed).
copies_differ() {
	/usr/bin/python3 - "$CLUSTER_DIR" "$NODES" "$COPIES" "$W" <<-'PY'
	import os, sys
	d, nodes, copies, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
	doubt = open(w + ".doubt", "rb").read()
	held = {}
	for i in range(nodes):
	    p = os.path.join(d, "node%d" % i, "obj")
	    for f in os.listdir(p):
	        if len(f) == 16 and f.startswith("00"):
	            held.setdefault(f, []).append(os.path.join(p, f))
	bad = unacked_only = 0
	for f, paths in held.items():
	    data = [open(p, "rb").read() for p in paths]
	    n = max(len(x) for x in data)
	    data = [x.ljust(n, b"\0") for x in data]
	    if len(paths) != copies or len(set(data)) != 1:
	        # Which 4 KiB blocks differ, and were they all written by writes that failed?
	        base = int(f[8:], 16) * (4 << 20) // 4096
	        blocks = [b for b in range(n // 4096)
	                  if len({x[b * 4096:(b + 1) * 4096] for x in data}) > 1]
	        unacked = all(base + b < len(doubt) and doubt[base + b] for b in blocks)
	        print("soak: object %s: %d copies, %d blocks differ%s" % (f, len(paths), len(blocks),
	              " (all of a failed write)" if blocks and unacked else ""), file=sys.stderr)
	        bad += 1
	        unacked_only += bool(blocks) and unacked and len(paths) == copies
	print(bad, unacked_only)
	PY
}

cleanup() {
	[ -f "$W.pid" ] && kill "$(cat "$W.pid")" 2>/dev/null || true
	for i in $(seq 0 $((NODES - 1))); do
		p=$(pid_of "$i")
		[ -n "$p" ] && kill -CONT "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
	done
	[ -z "${CLUSTER_NET:-}" ] || "$CL" net-down
	[ -n "${SOAK_KEEP:-}" ] || rm -rf "$CLUSTER_DIR"
}
trap cleanup EXIT

serving() { # node count
	[ "$(dogn "$1" node list -r 2>/dev/null | wc -l)" -eq "$2" ] &&
		dogn "$1" cluster info 2>&1 | grep -q "status: running"
}
wait_serving() { # count nodes...: at most a minute
	local count=$1 i
	shift
	for _ in $(seq 300); do
		for i in "$@"; do serving "$i" "$count" || { sleep 0.2; continue 2; }; done
		return 0
	done
	log "the cluster did not serve with $count nodes:"
	for i in "$@"; do
		echo "node $i: $(dogn "$i" node list -r 2>&1 | wc -l) members," \
			"$(dogn "$i" cluster info 2>&1 | head -1)"
	done
	exit 1
}
all_nodes() { seq 0 $((NODES - 1)); }

[ -z "${CLUSTER_NET:-}" ] || "$CL" net-up "$NODES"
"$CL" start "$NODES" --nbd --format --copies "$COPIES" >/dev/null
dogn 0 vdi create soak "${SIZE_MB}M"
sleep 0.5
where="loopback (no partitions)"
[ -z "${CLUSTER_NET:-}" ] || where="network namespaces on $CLUSTER_NET.0/24"
log "$NODES nodes, $COPIES copies, ${SIZE_MB} MiB, $where"

# The writer: random writes of 4 to 64 KiB, a flush every 32, through any live node.
# shellcheck disable=SC2046
/usr/bin/python3 - "$W" "$((SIZE_MB << 20))" $(for i in $(all_nodes); do nbd_uri "$i"; done) <<'PY' &
import nbd, os, random, sys, time
out, size, uris = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
open(out + ".pid", "w").write(str(os.getpid()))
mirror, doubt = bytearray(size), bytearray(size // 4096)
h, writes, failed = None, 0, 0
while not os.path.exists(out + ".stop"):
    if h is None:
        try:
            h = nbd.NBD()
            h.connect_uri(random.choice(uris))
        except nbd.Error:
            h = None
            time.sleep(0.2)
            continue
    off = random.randrange(size // 4096) * 4096
    n = min(random.randint(1, 16) * 4096, size - off)
    data = os.urandom(n)
    try:
        h.pwrite(data, off)
        mirror[off:off + n] = data
        doubt[off // 4096:(off + n) // 4096] = bytes(n // 4096)
        writes += 1
        if writes % 32 == 0:
            h.flush()
    except nbd.Error:
        # Not acknowledged: the old bytes or the new ones may be there.
        for b in range(off // 4096, (off + n) // 4096):
            doubt[b] = 1
        failed += 1
        try:
            h.shutdown()
        except nbd.Error:
            pass
        h = None
open(out + ".img", "wb").write(mirror)
open(out + ".doubt", "wb").write(doubt)
open(out + ".count", "w").write("%d %d\n" % (writes, failed))
PY
sleep 1

kills=0 partitions=0
down_wait() { # i: until the cluster removed node i (a new epoch without it)
	for _ in $(seq 150); do
		[ "$(dogn "$1" node list -r 2>/dev/null | wc -l)" -lt "$NODES" ] && return
		sleep 0.1
	done
}
kinds=4
[ -n "${CLUSTER_NET:-}" ] && kinds=5
for e in $(seq "$EVENTS"); do
	i=$((RANDOM % NODES))
	other=$(((i + 1) % NODES))
	# Every kind once first (a short round covers them all), then at random.
	kind=$((e <= kinds ? e - 1 : RANDOM % kinds))
	case $kind in
	0 | 1)
		log "event $e: SIGKILL node $i, restart at once"
		kill -9 "$(pid_of "$i")"
		kills=$((kills + 1))
		sleep 0.3
		"$CL" restart "$i" --nbd >/dev/null
		;;
	2)
		log "event $e: SIGKILL node $i, restart after the cluster removed it"
		kill -9 "$(pid_of "$i")"
		kills=$((kills + 1))
		down_wait "$other"
		sleep 1
		"$CL" restart "$i" --nbd >/dev/null
		;;
	3)
		log "event $e: node $i hangs for 3 s (SIGSTOP)"
		kill -STOP "$(pid_of "$i")"
		sleep 3
		kill -CONT "$(pid_of "$i")"
		;;
	4)
		# A minority: 1 .. (N-1)/2 nodes, cut off long enough to be removed.
		minority=$(shuf -i 0-$((NODES - 1)) -n $((RANDOM % ((NODES - 1) / 2) + 1)) | tr '\n' ' ')
		log "event $e: network partition of node(s) ${minority}for 7 s"
		# shellcheck disable=SC2086
		"$CL" partition $minority
		partitions=$((partitions + 1))
		sleep 7
		# shellcheck disable=SC2086
		"$CL" heal $minority
		;;
	esac
	# shellcheck disable=SC2046
	wait_serving "$NODES" $(all_nodes)
	sleep 1
done

log "dog cluster shutdown, then every node started again"
dogn 0 cluster shutdown || { log "dog cluster shutdown failed"; exit 1; }
for i in $(all_nodes); do
	p=$(pid_of "$i")
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && { log "node $i did not exit after dog cluster shutdown"; exit 1; }
done
for i in $(all_nodes); do "$CL" restart "$i" --nbd >/dev/null; done
# shellcheck disable=SC2046
wait_serving "$NODES" $(all_nodes)

log "every node SIGKILLed at once, then restarted"
for i in $(all_nodes); do kill -9 "$(pid_of "$i")"; done
kills=$((kills + NODES))
sleep 0.5
for i in $(all_nodes); do "$CL" restart "$i" --nbd >/dev/null; done
# shellcheck disable=SC2046
wait_serving "$NODES" $(all_nodes)
sleep 2
touch "$W.stop"
wait
read -r writes failed <"$W.count"
log "$writes writes acknowledged, $failed failed during the events"

# Recovery over everywhere, then the checks.
for _ in $(seq 600); do
	busy=0
	for i in $(all_nodes); do
		[ "$(dogn "$i" node recovery | wc -l)" -eq 2 ] || busy=1
	done
	[ $busy -eq 0 ] && break
	sleep 0.1
done
lost=0
for i in $(all_nodes); do
	nbdcopy "$(nbd_uri "$i")" "$CLUSTER_DIR/read$i"
	n=$(/usr/bin/python3 - "$CLUSTER_DIR/read$i" "$W" <<'PY'
import sys
got, w = open(sys.argv[1], "rb").read(), sys.argv[2]
want, doubt = open(w + ".img", "rb").read(), open(w + ".doubt", "rb").read()
print(sum(4096 for b in range(len(doubt))
          if not doubt[b] and got[b * 4096:(b + 1) * 4096] != want[b * 4096:(b + 1) * 4096]))
PY
)
	[ "$n" -gt 0 ] && log "node $i serves $n bytes that differ from what was acknowledged"
	lost=$((lost > n ? lost : n))
done
read -r diverged unacked <<<"$(copies_differ)"
log "before dog vdi check: $diverged objects diverged ($unacked of them only where a write failed)"
# The repair of copies that differ (dog vdi check), then the same comparison.
for _ in $(seq 30); do
	dogn 0 vdi check soak >"$CLUSTER_DIR/check" 2>&1 && break
	grep -q "being written" "$CLUSTER_DIR/check" || break # the lease goes 5 s after the writer
	sleep 0.5
done
grep -v '^finish' "$CLUSTER_DIR/check" | sed 's/^/soak: dog vdi check: /' || true
read -r after _ <<<"$(copies_differ 2>/dev/null)"
log "$EVENTS events ($kills kills, $partitions partitions) survived, $lost bytes lost, $after objects diverged" \
	"after dog vdi check ($diverged before it, $unacked of them only where a write failed)"
# Before the check, copies may differ only where a write was never acknowledged (its node
# died with it in flight); after it, nowhere.
[ "$lost" -eq 0 ] && [ "$diverged" -eq "$unacked" ] && [ "$after" -eq 0 ]
