#!/bin/bash
# Installs every Debian 12 package sheepdog needs to build, and the clients its tests drive.
# Needs root (or sudo). Safe to run again: apt-get skips what is installed.
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc
	liburing-dev libisal-dev libck-dev libprotobuf-c-dev protobuf-c-compiler
	libfuse3-dev fuse3 libcriterion-dev
	# tests and their real clients
	python3 procps qemu-utils libnbd-bin python3-libnbd nbdkit fio libnfs-utils
)

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
	SUDO=sudo
fi
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
