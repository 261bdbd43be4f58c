#!/bin/sh
# Static analysis of the C sources with cppcheck (installed by scripts/deps.sh): daemon/, shm/,
# libhorus/, nodes/ and tools/, with the tree's include paths and defines. Exits non-zero on any
# finding; a finding that is wrong about the code is silenced at its line with a comment
# "// cppcheck-suppress ID" saying why (--inline-suppr).
#
#   scripts/static-analysis.sh             every directory
#   scripts/static-analysis.sh daemon shm  only these
#
# Checks: warning (undefined behaviour, wrong API use, leaks, overflows), performance and
# portability; "style" is left out (it mostly argues with the tree's own style). Results are
# cached in $ANALYSIS_BUILD (default build-analysis) so that a second run checks only what changed.
set -eu
cd "$(dirname "$0")/.."

if ! command -v cppcheck >/dev/null 2>&1; then
	echo "static-analysis: cppcheck is not installed (scripts/deps.sh installs it)" >&2
	exit 2
fi

dirs=${*:-daemon shm libhorus nodes tools}
cache=${ANALYSIS_BUILD:-build-analysis}
mkdir -p "$cache/cppcheck"

# Include paths of the tree: the public headers, the shm internals, libhorus' own, the daemon's,
# the shipped nodes' and the tools'. System headers are not parsed (cppcheck knows libc through
# its posix/gnu libraries); -D_GNU_SOURCE as in meson.build, and the paths meson passes.
incs="-Ilibhorus/include -Ishm -Ilibhorus/src -Idaemon -Inodes"
for d in tools/*/; do
	incs="$incs -I${d%/}"
done

# readdirCalled is silenced: it recommends readdir_r(), which glibc deprecates; readdir() is safe
# on a DIR that one thread owns, as every use in the tree does.
status=0
# shellcheck disable=SC2086
cppcheck --enable=warning,performance,portability --std=c11 --library=posix --library=gnu \
	--inline-suppr --error-exitcode=1 --quiet --max-configs=1 \
	-D_GNU_SOURCE -D__GNUC__ -DHORUS_PLUGIN_DIR='"/usr/lib/horus/nodes"' \
	-DHORUS_CONFIG_FILE='"/etc/horus/horusd.ini"' \
	-DHORUS_CONTROL_SOCKET='"/run/horus/horusd.sock"' -DHORUS_VERSION_STRING='"0"' \
	--suppress=missingIncludeSystem --suppress=unmatchedSuppression --suppress=readdirCalled \
	--cppcheck-build-dir="$cache/cppcheck" -j "$(nproc)" \
	--template='{file}:{line}: {severity} ({id}): {message}' \
	$incs $dirs || status=$?
if [ "$status" -ne 0 ]; then
	echo "static-analysis: cppcheck found the problems above (in $dirs)" >&2
	exit 1
fi
echo "static-analysis: cppcheck clean over $dirs"
