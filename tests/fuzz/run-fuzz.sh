#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan + coverage over shm_lib) and runs each one for
# a bounded time over its kept corpus. Fails if a target crashes, leaks, hangs or aborts.
#
#   tests/fuzz/run-fuzz.sh [TARGET...]      every target by default: fuzz-segment fuzz-names
#                                           fuzz-ini fuzz-control, and horusctl's fuzz-* targets
#                                           (tools/horusctl) when the tree has them
#   FUZZ_SECONDS=300 tests/fuzz/run-fuzz.sh  time per target (default 30)
#   tests/fuzz/run-fuzz.sh --regen           rewrite the seeds (corpus/*/seed-*) from real segments
#   tests/fuzz/run-fuzz.sh --known           replay the known-bug inputs with the guards off
#   tests/fuzz/run-fuzz.sh --race [SECONDS]  run the attach double-fetch reproducer
#   tests/fuzz/run-fuzz.sh --truncate        run the truncated-segment (SIGBUS) reproducer
#
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_JOBS (parallel fuzzing processes
# per target, default 1), FUZZ_FLAGS (more libFuzzer flags, e.g. -use_value_profile=1), CC
# (default clang). New inputs found go to $FUZZ_BUILD/corpus/TARGET and
# crash/timeout reproducers to $FUZZ_BUILD/artifacts/; nothing in the tree is touched except by
# --regen. Minimise a finding with: $FUZZ_BUILD/tests/fuzz/TARGET -minimize_crash=1 FILE
set -eu
cd "$(dirname "$0")/../.."

build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-1}
corpus=tests/fuzz/corpus

if [ ! -f "$build/build.ninja" ]; then
	# -fsanitize=fuzzer-no-link instruments shm_lib for coverage; b_lundef=false because the
	# sanitizer runtimes resolve symbols at link time of the executable only.
	CC=${CC:-clang} meson setup "$build" -Dfuzz=true -Db_lundef=false \
		-Db_sanitize=address,undefined \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" \
		-Dbuildtype=debugoptimized >/dev/null
fi
if ! grep -q 'build tests/fuzz/fuzz-segment:' "$build/build.ninja"; then
	echo "run-fuzz: no fuzz targets in $build (clang with libFuzzer missing?); skipping" >&2
	exit 0
fi
# meson regenerates build.ninja when a meson.build changed; make sure the list below is current.
ninja -C "$build" build.ninja >/dev/null

# Every libFuzzer target the build defines: ours (tests/fuzz) and horusctl's (tools/horusctl).
target_re='tests/fuzz/fuzz-[a-z-]*\|tools/horusctl/fuzz-[a-z-]*'
all_targets=$(sed -n "s#^build \\($target_re\\): c_LINKER.*#\\1#p" "$build/build.ninja" |
	grep -v 'fuzz-gen-corpus\|fuzz-race-geometry\|fuzz-repro-truncate' | sort -u)
target_path() {
	for p in $all_targets; do
		if [ "$(basename "$p")" = "$1" ]; then
			echo "$p"
			return 0
		fi
	done
	echo "run-fuzz: no target $1 in $build; known:" "$all_targets" >&2
	return 1
}

# Only what fuzzing needs: libhorus.so itself cannot link (-z defs) with clang's static sanitizer
# runtimes, and the fuzz targets link shm_lib (and the daemon's parser sources) directly.
# shellcheck disable=SC2086
ninja -C "$build" $all_targets tests/fuzz/fuzz-gen-corpus \
	tests/fuzz/fuzz-race-geometry tests/fuzz/fuzz-repro-truncate >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

case "${1:-}" in
--regen)
	"$build/tests/fuzz/fuzz-gen-corpus" "$corpus"
	exit 0
	;;
--race)
	exec "$build/tests/fuzz/fuzz-race-geometry" "${2:-10}"
	;;
--truncate)
	exec "$build/tests/fuzz/fuzz-repro-truncate"
	;;
--known)
	mkdir -p "$build/artifacts"
	# Each known-* input hangs hub_claim() while the bug is there: libFuzzer reports a timeout.
	status=0
	for f in "$corpus"/fuzz-segment/*known-*; do
		if [ ! -e "$f" ]; then
			echo "run-fuzz: no known-bug inputs"
			break
		fi
		if HORUS_FUZZ_KNOWN=1 "$build/tests/fuzz/fuzz-segment" -timeout=5 \
			-artifact_prefix="$build/artifacts/known-" "$f" >"$build/known.log" 2>&1; then
			echo "run-fuzz: $f: passes (fixed?)"
		else
			echo "run-fuzz: $f: still fails: $(grep -m1 'ERROR: libFuzzer\|ERROR: Address\|runtime error' \
				"$build/known.log" || echo 'see log')"
			status=1
		fi
	done
	exit $status
	;;
esac

targets=${*:-$(echo "$all_targets" | xargs -n1 basename)}
mkdir -p "$build/artifacts"
status=0
for t in $targets; do
	path=$(target_path "$t") || {
		status=1
		continue
	}
	case $t in
	fuzz-segment) max_len=8192 ;;
	fuzz-ini | fuzz-control) max_len=5000 ;; # past the 200-byte INI line and the 4096-byte request
	fuzz-horusctl-json) max_len=16384 ;;
	*) max_len=1024 ;;
	esac
	# The kept corpus: tests/fuzz/corpus/TARGET, or horusctl's own (tools/horusctl/corpus/KIND).
	case $path in
	tools/horusctl/*) kept=tools/horusctl/corpus/${t#fuzz-horusctl-} ;;
	*) kept=$corpus/$t ;;
	esac
	mkdir -p "$kept"
	extra=""
	if [ -f "tests/fuzz/$t.dict" ]; then
		extra="-dict=$(pwd)/tests/fuzz/$t.dict"
	fi
	extra="$extra ${FUZZ_FLAGS:-}"
	if [ "$jobs" -gt 1 ]; then
		# libFuzzer writes one fuzz-N.log per job into the current directory.
		extra="$extra -jobs=$jobs -workers=$jobs"
	fi
	log="$build/$t.log"
	mkdir -p "$build/corpus/$t"
	echo "== $t: ${seconds}s over $kept (log: $log)"
	# The first corpus dir receives new inputs; the kept one is only read. Run from the build
	# dir so that whatever libFuzzer writes to its working directory lands there.
	# shellcheck disable=SC2086
	if (cd "$build" && "$path" "corpus/$t" "$OLDPWD/$kept" $extra \
		-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="artifacts/$t-" -print_final_stats=1) >"$log" 2>&1; then
		grep -h 'stat::number_of_executed_units\|stat::peak_rss_mb' "$log" |
			tr '\n' ' ' | sed 's/^/   /'
		echo
		grep -h '^#[0-9]*.*\(DONE\|pulse\|NEW\|REDUCE\)' "$log" | tail -n 1 | sed 's/^/   /'
	else
		echo "run-fuzz: $t FAILED; reproducers in $build/artifacts/:" >&2
		grep -h -A 12 'ERROR: \|SUMMARY: \|runtime error' "$log" | head -n 40 >&2
		status=1
	fi
done
exit $status
