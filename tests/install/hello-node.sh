#!/bin/sh
# An out-of-tree plugin: examples/hello_node, copied out of the source tree, built by its own
# Makefile against the DESTDIR install (pkg-config --cflags --libs libhorus, nothing else), then
# run by the installed horusd (it-hello, given as $1, checks it ticks and publishes).
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || fail "usage: $0 IT-HELLO"
install_into_destdir
mkdir "$D/hello_node"
cp "$HORUS_SOURCE_ROOT/examples/hello_node/Makefile" \
	"$HORUS_SOURCE_ROOT/examples/hello_node/hello_node.c" "$D/hello_node/"
export PKG_CONFIG_LIBDIR="$D$HORUS_LIBDIR/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
if ! make -C "$D/hello_node" CFLAGS="-O2 -g -Wall -Wextra -Werror" >"$D/make.log" 2>&1; then
	cat "$D/make.log" >&2
	fail "make in a copy of examples/hello_node failed"
fi
grep -F -- "-I$D$HORUS_INCLUDEDIR" "$D/make.log" | grep -q -F -- "-L$D$HORUS_LIBDIR" ||
	fail "the compile did not use the DESTDIR's SDK: $(cat "$D/make.log")"
echo "ok built hello_node.so out of tree: $(grep -F hello_node.c "$D/make.log")"
make -C "$D/hello_node" DESTDIR="$D" PLUGIN_DIR="$HORUS_PLUGIN_DIR" install >/dev/null ||
	fail "make install"
[ "$(stat -c %04a "$D$HORUS_PLUGIN_DIR/hello_node.so")" = 0755 ] || fail "make install: mode"
echo "ok make install put it into $HORUS_PLUGIN_DIR, mode 0755"

# The installed daemon and library run it.
HORUSD="$D$HORUS_SBINDIR/horusd" HORUS_TEST_NODES="$D$HORUS_PLUGIN_DIR" \
	LD_LIBRARY_PATH=$(destdir_ld_path) "$1"
