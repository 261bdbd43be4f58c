#!/bin/sh
# Installs what is missing, builds, and runs every test suite.
#   ./test.sh            everything: release build (unit, daemon, integration, shipped nodes,
#                        horusctl, install, docs and reliability suites), cppcheck,
#                        ASan+UBSan build, TSan build, bounded fuzzing
#   QUICK=1 ./test.sh    only the normal build's suites
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh

jobs=$(nproc)

build() { # build DIR [meson options...]
	dir=$1
	shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}

echo "== build (debugoptimized, -Werror)"
build build -Dwerror=true
echo "== tests"
meson test -C build --print-errorlogs --num-processes "$jobs"

echo "== static analysis (cppcheck)"
scripts/static-analysis.sh

if [ "${QUICK:-0}" = 1 ]; then
	exit 0
fi

echo "== tests under ASan + UBSan"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes "$jobs" --timeout-multiplier 3

echo "== threaded tests under TSan"
build build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
TSAN_OPTIONS="halt_on_error=1 suppressions=$(pwd)/tests/tsan.supp" \
	meson test -C build-tsan --print-errorlogs --num-processes "$jobs" --timeout-multiplier 3 \
	--suite tsan

if [ -x tests/fuzz/run-fuzz.sh ]; then
	echo "== fuzzing (bounded)"
	FUZZ_SECONDS=${FUZZ_SECONDS:-20} tests/fuzz/run-fuzz.sh
fi
echo "== all tests passed"
