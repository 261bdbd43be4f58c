#!/bin/sh
# libhorus exports only horus_* symbols, and every function its public headers declare.
#   check-exports.sh LIBHORUS INCDIR HEADER...
set -u
lib=$1 inc=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Type A entries are the version-script nodes (HORUS_0), not symbols.
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u \
	>"$tmp/exported"
if [ ! -s "$tmp/exported" ]; then
	echo "FAIL: $lib exports nothing (or nm failed)"
	exit 1
fi
fail=0
leaks=$(grep -v '^horus_' "$tmp/exported")
if [ -n "$leaks" ]; then
	echo "FAIL: exported without the horus_ prefix:"
	echo "$leaks"
	fail=1
fi
for h in "$@"; do
	grep -o 'horus_[a-z0-9_]*(' "$inc/$h" | tr -d '('
done | sort -u >"$tmp/declared"
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$missing" ]; then
	echo "FAIL: declared in the public headers but not exported:"
	echo "$missing"
	fail=1
fi
echo "$(wc -l <"$tmp/exported") symbols exported, $(wc -l <"$tmp/declared") declared"
exit $fail
