#!/bin/sh
# config/demo.ini, what ./run.sh runs, passes `horusd --check-config` against this build's
# nodes (its paths are relative to a build dir named build/: here a symlink to this one) and
# runs every shipped plugin. $1: the built horusd.
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || fail "usage: $0 HORUSD"
horusd=$(realpath "$1") # meson passes it relative to the build dir
make_destdir
ln -s "$HORUS_BUILD_ROOT" "$D/build"
out=$(cd "$D" && "$horusd" --check-config -c "$HORUS_SOURCE_ROOT/config/demo.ini" 2>&1) ||
	fail "horusd --check-config -c config/demo.ini: $out"
[ "$out" = "configuration OK" ] || fail "horusd --check-config said: $out"
echo "ok horusd --check-config -c config/demo.ini: $out"
for p in camera_sim http_sensor log_writer periodic_sensor; do
	grep -q -x "plugin = $p" "$HORUS_SOURCE_ROOT/config/demo.ini" ||
		fail "config/demo.ini runs no $p node"
done
echo "ok config/demo.ini runs all four shipped plugins"
