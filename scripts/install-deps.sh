#!/bin/bash
# Installs every Debian 12 package sheepdog needs to build, and the clients its tests drive.
# Needs root (or sudo). Safe to run again: apt-get skips what is installed.
# libraft comes from bookworm-backports (0.22, cowsql): bookworm's own 0.15 predates Jepsen-found
# fixes (docs/cluster-design.md), so an installed 0.15 is replaced, not accepted.
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc
	liburing-dev libisal-dev libck-dev libprotobuf-c-dev protobuf-c-compiler
	libfuse3-dev fuse3 libcriterion-dev libuv1-dev libzookeeper-mt-dev
	# tests and their real clients
	python3 procps qemu-utils libnbd-bin python3-libnbd nbdkit fio libnfs-utils
	zookeeper # a real ZooKeeper server (Java) for the zookeeper driver's tests
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
RAFT_MIN=0.17 # raft_uv_tcp transport.version, pre-vote and the fixes we rely on
raft_have=$(dpkg-query -W -f='${Status} ${Version}' libraft-dev 2>/dev/null |
	sed -n 's/^install ok installed //p' || true)
need_raft=0
if [ -z "$raft_have" ] || ! dpkg --compare-versions "$raft_have" ge "$RAFT_MIN"; then
	need_raft=1
fi
if [ ${#missing[@]} -eq 0 ] && [ $need_raft = 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages and libraft-dev $raft_have are installed"
	exit 0
fi
raft_release=()
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ $need_raft = 1 ] && [ "$codename" = bookworm ]; then
	# Only bookworm needs backports for libraft >= 0.17; later releases carry it in main.
	raft_release=(-t bookworm-backports)
	if ! grep -qsr --include='*.list' --include='*.sources' '^[^#]*bookworm-backports' \
		/etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "install-deps: adding the bookworm-backports source (for libraft-dev >= $RAFT_MIN)"
		printf '%s\n' '# Added by sheepdog scripts/install-deps.sh: libraft-dev 0.22 (bookworm has 0.15).' \
			'deb http://deb.debian.org/debian bookworm-backports main' |
			$SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
	fi
fi
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
if [ $need_raft = 1 ]; then
	echo "install-deps: installing libraft-dev >= $RAFT_MIN (have: ${raft_have:-none})"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		"${raft_release[@]}" libraft-dev >/dev/null
	raft_have=$(dpkg-query -W -f='${Version}' libraft-dev)
	if ! dpkg --compare-versions "$raft_have" ge "$RAFT_MIN"; then
		echo "install-deps: libraft-dev $raft_have installed, need >= $RAFT_MIN" >&2
		exit 1
	fi
fi
echo "install-deps: done"
