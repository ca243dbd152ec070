#!/bin/bash
# Line coverage of the protocol code by the fuzz replays, and how often the request paths ran.
# usage: tests/fuzz/coverage_report.sh BUILD_DIR
#   BUILD_DIR: configured with -Db_coverage=true (gcc); this script clears its counters, runs the
#   fuzz suite there (meson test --suite fuzz) and prints the table that README.md quotes.
set -euo pipefail
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
find "$build" -name '*.gcda' -delete
meson test -C "$build" --suite fuzz >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# gcov finds the sources relative to the build directory, and writes its .gcov files here.
cd "$build"

# cover OBJDIR SOURCE: SOURCE's line coverage; its .gcov goes to $work.
cover() {
	local gcno
	gcno=$(find "$1" -maxdepth 1 -name "*src_frontends_*_$(basename "$2").gcno")
	gcov -b -o "$1" "$gcno" 2>/dev/null | grep -A1 "^File '.*/$(basename "$2")'" |
		sed -n 's/Lines executed://p'
	mv ./*.gcov "$work/" 2>/dev/null || true
}
# calls NAME...: how often each function ran, from the .gcov files in $work.
calls() {
	for f in "$@"; do
		grep -h "^function $f called" "$work"/*.gcov | head -1 |
			awk -v f="$f" '{ printf "  %-24s %s\n", f, $4 }'
	done
}

lib=libsheep_lib.a.p
echo "line coverage by fuzz_nbd_conn and fuzz_ctl_request (libsheep):"
for s in nbd_parse.c nbd_negotiate.c nbd_conn.c nbd_cmd.c ctl_ops.c; do
	printf "  %-16s %s\n" "$s" "$(cover "$lib" "$s")"
done
echo "calls:"
calls nbd_validate_request nbd_cmd_execute do_read do_write do_zero do_cache do_block_status \
	handle_option handle_request ctl_handle op_cluster_format op_vdi_create op_vdi_prealloc \
	op_vdi_delete op_vdi_resize op_vdi_read op_vdi_write op_vdi_setattr op_vdi_getattr \
	op_vdi_list op_vdi_info op_node_info op_cluster_info
rm -f "$work"/*.gcov
echo "the parser-only target (fuzz_nbd_parse), for comparison:"
printf "  %-16s %s\n" nbd_parse.c "$(cover tests/fuzz/fuzz_nbd_parse_replay.p nbd_parse.c)"
calls nbd_validate_request
