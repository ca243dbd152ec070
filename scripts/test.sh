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

for b in build build-asan; do
	echo "== unit tests ($b)"
	if meson test -C "$b" --print-errorlogs --num-processes 2 >"$TOP/$b/unit.log" 2>&1; then
		record "unit($b)" 0
		grep -E "^ *[0-9]+/[0-9]+ " "$TOP/$b/unit.log" | sed 's/^/  /'
	else
		cat "$TOP/$b/unit.log"
		record "unit($b)" 1
	fi
done

ASAN_DIR=$(mktemp -d /tmp/sd-asan.XXXXXX)
for b in build build-asan; do
	for t in tests/integration/test-*.sh; do
		name="$(basename "$t" .sh)($b)"
		start=$(date +%s)
		ASAN_OPTIONS="log_path=$ASAN_DIR/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$ASAN_DIR/ubsan" \
			BUILD="$TOP/$b" timeout 300 bash "$t" >"$ASAN_DIR/out" 2>&1
		rc=$?
		if [ -n "$(ls "$ASAN_DIR" | grep -E '^(asan|ubsan)\.')" ]; then
			echo "sanitizer report during $name:"
			cat "$ASAN_DIR"/asan.* "$ASAN_DIR"/ubsan.* 2>/dev/null | head -60
			rm -f "$ASAN_DIR"/asan.* "$ASAN_DIR"/ubsan.*
			rc=1
		fi
		[ $rc -ne 0 ] && [ $rc -ne 77 ] && cat "$ASAN_DIR/out"
		echo "$([ $rc -eq 0 ] && echo PASS || { [ $rc -eq 77 ] && echo SKIP || echo FAIL; }) $name ($(($(date +%s) - start))s)"
		record "$name" $rc
	done
done
rm -rf "$ASAN_DIR"

[ $failed -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
