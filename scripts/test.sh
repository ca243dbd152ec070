#!/bin/bash
# One command from a fresh Debian 12 machine to every test: installs the packages, builds the
# normal and the ASan+UBSan variants, runs the criterion unit tests and the fuzz replays in both,
# then every integration script (tests/integration/test-*.sh) against both builds.
# Prints a closing "N passed, N failed, N skipped" line; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD

scripts/install-deps.sh || exit 1
scripts/build.sh build || exit 1
scripts/build.sh build-asan -Dsanitize=true || exit 1

passed=0 failed=0 skipped=0
failures=()
record() { # name rc
	case $2 in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)); echo "SKIP: $1" ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
}

# Both builds' unit tests at once (the fuzz replays run for a fixed time each).
for b in build build-asan; do
	(meson test -C "$b" --print-errorlogs --num-processes 2 >"$TOP/$b/unit.log" 2>&1
		echo $? >"$TOP/$b/unit.rc") &
done
wait
for b in build build-asan; do
	echo "== unit tests ($b)"
	if [ "$(cat "$TOP/$b/unit.rc")" = 0 ]; then
		record "unit($b)" 0
		grep -E "^ *[0-9]+/[0-9]+ " "$TOP/$b/unit.log" | sed 's/^/  /'
	else
		cat "$TOP/$b/unit.log"
		record "unit($b)" 1
	fi
done

# The two builds' integration suites run side by side: most of a cluster test's time is spent
# waiting (for a node to be removed, a session to expire), so together they take little more
# than the longer one. Each suite has its own sanitizer log directory and result file.
run_suite() { # build [tests...]: one line per test in $RUN_DIR/$build.results, failures kept
	local b=$1 dir=$RUN_DIR/$1 t name start rc
	shift
	mkdir -p "$dir"
	for t in "$@"; do
		name="$(basename "$t" .sh)($b)"
		start=$(date +%s)
		ASAN_OPTIONS="log_path=$dir/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$dir/ubsan" \
			BUILD="$TOP/$b" timeout 300 bash "$t" >"$dir/out" 2>&1
		rc=$?
		if [ -n "$(ls "$dir" | grep -E '^(asan|ubsan)\.')" ]; then
			{
				echo "sanitizer report during $name:"
				cat "$dir"/asan.* "$dir"/ubsan.* 2>/dev/null | head -60
			} >>"$dir/out"
			rm -f "$dir"/asan.* "$dir"/ubsan.*
			rc=1
		fi
		[ $rc -ne 0 ] && [ $rc -ne 77 ] && cp "$dir/out" "$dir/fail-$(basename "$t" .sh).log"
		echo "$rc $name $(($(date +%s) - start))" >>"$RUN_DIR/$b.results"
		echo "$([ $rc -eq 0 ] && echo PASS || { [ $rc -eq 77 ] && echo SKIP || echo FAIL; }) $name ($(($(date +%s) - start))s)"
	done
}

RUN_DIR=$(mktemp -d /tmp/sd-tests.XXXXXX)
# test-no-io-uring switches io_uring off for the whole machine a moment: it runs alone, after
# the two suites, so that no sheep of the other one starts meanwhile.
ALONE=tests/integration/test-no-io-uring.sh
mapfile -t SIDE < <(ls tests/integration/test-*.sh | grep -vx "$ALONE")
run_suite build "${SIDE[@]}" &
run_suite build-asan "${SIDE[@]}" &
wait
run_suite build "$ALONE"
run_suite build-asan "$ALONE"
for b in build build-asan; do
	while read -r rc name _; do
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
			echo "--- output of $name"
			cat "$RUN_DIR/$b/fail-${name%%(*}.log"
		fi
		record "$name" "$rc"
	done <"$RUN_DIR/$b.results"
done
rm -rf "$RUN_DIR"

[ $failed -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
