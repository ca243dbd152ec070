#!/bin/bash
# One command from a fresh Debian 12 machine to a running single-node sheepdog cluster:
# installs the packages, builds, starts sheep in a scratch directory, formats the cluster and
# creates a VDI, then prints how to reach it. Set DEMO_DIR or DEMO_PORT to choose.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build

DIR=${DEMO_DIR:-$(mktemp -d /tmp/sheepdog-demo.XXXXXX)}
PORT=${DEMO_PORT:-7000}
DOG="$PWD/build/dog -p $PORT"

./build/sheep -b 127.0.0.1 -p "$PORT" "$DIR/node0"
$DOG cluster format -c 1 -f
$DOG vdi create demo 1G
echo
$DOG cluster info
$DOG vdi list
cat <<MSG

A one-node sheepdog cluster is running: data in $DIR/node0, log in $DIR/node0/sheep.log,
control port $PORT on 127.0.0.1, and one 1 GiB VDI named "demo".

Try:
  echo hello | $DOG vdi write demo
  $DOG vdi read demo 0 6
  $DOG vdi create disk2 20G
  $DOG node info
Stop it with:
  $DOG cluster shutdown
MSG
