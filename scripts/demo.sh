#!/bin/bash
# One command from a fresh Debian 12 machine to a running single-node sheepdog cluster:
# installs the packages, builds, starts sheep in a scratch directory with an NBD export, formats
# the cluster and creates a VDI, then prints how to reach it. DEMO_DIR, DEMO_PORT and
# DEMO_NBD_PORT choose the directory and ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build

DIR=${DEMO_DIR:-$(mktemp -d /tmp/sheepdog-demo.XXXXXX)}
PORT=${DEMO_PORT:-7000}
NBD_PORT=${DEMO_NBD_PORT:-10809}
DOG="$PWD/build/dog -p $PORT"

./build/sheep -b 127.0.0.1 -p "$PORT" --nbd-port "$NBD_PORT" "$DIR/node0"
$DOG cluster format -c 1 -f
$DOG vdi create demo 1G
echo
$DOG cluster info
$DOG vdi list
echo
nbdinfo "nbd://127.0.0.1:$NBD_PORT/demo"
cat <<MSG

A one-node sheepdog cluster is running: data in $DIR/node0, log in $DIR/node0/sheep.log,
control port $PORT on 127.0.0.1, and one 1 GiB VDI named "demo", exported over NBD as
nbd://127.0.0.1:$NBD_PORT/demo (every VDI is an export named after it).

Try:
  qemu-io -f raw -c "write -P 0xab 0 1M" -c "read -P 0xab 0 1M" nbd://127.0.0.1:$NBD_PORT/demo
  qemu-img info nbd://127.0.0.1:$NBD_PORT/demo
  nbdinfo --map nbd://127.0.0.1:$NBD_PORT/demo
  fio --name=t --ioengine=nbd --uri=nbd://127.0.0.1:$NBD_PORT/demo --rw=randread --bs=4k \\
      --iodepth=32 --runtime=5 --time_based
  qemu-system-x86_64 -drive file=nbd://127.0.0.1:$NBD_PORT/demo,format=raw,if=virtio ...
  echo hello | $DOG vdi write demo
  $DOG vdi read demo 0 6
  $DOG vdi create disk2 20G
  $DOG node info
Stop it with:
  $DOG cluster shutdown
MSG
