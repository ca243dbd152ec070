#!/bin/bash
# Configures (once) and builds sheep and dog into build/ (or the directory given), with any extra
# meson options after it, e.g. scripts/build.sh build-asan -Dsanitize=true
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "build: $dir is up to date"
