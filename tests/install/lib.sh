# shellcheck shell=sh
# Shared by the install tests (sourced). meson passes the build and source roots and every
# install path (absolute, without DESTDIR) in HORUS_* variables; see meson.build here.

set -eu

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# A private DESTDIR in the build tree, removed on exit (also when a check fails).
make_destdir() {
	D=$(mktemp -d "$HORUS_BUILD_ROOT/tests/install/destdir-XXXXXX")
	trap 'rm -rf "$D"' EXIT
}

# `meson install --destdir $D` of the already built tree (meson test builds it first).
install_into_destdir() {
	make_destdir
	if ! meson install -C "$HORUS_BUILD_ROOT" --destdir "$D" --no-rebuild --quiet \
		>"$D.log" 2>&1; then
		cat "$D.log" >&2
		rm -f "$D.log"
		fail "meson install --destdir $D failed"
	fi
	rm -f "$D.log"
	echo "installed into a DESTDIR (prefix $HORUS_PREFIX)"
}

# The mode of a file as 4 octal digits, e.g. 0755.
mode_of() {
	stat -c '%04a' "$1"
}

# expect_file PATH MODE: a regular file (not a symlink) with exactly that mode.
expect_file() {
	[ -f "$D$1" ] && [ ! -L "$D$1" ] || fail "$1: missing or not a regular file"
	[ "$(mode_of "$D$1")" = "$2" ] || fail "$1: mode $(mode_of "$D$1"), expected $2"
	echo "ok $2 $1"
}

# expect_dir PATH MODE
expect_dir() {
	[ -d "$D$1" ] && [ ! -L "$D$1" ] || fail "$1: missing or not a directory"
	[ "$(mode_of "$D$1")" = "$2" ] || fail "$1: mode $(mode_of "$D$1"), expected $2"
	echo "ok $2 $1/"
}

# The installed libhorus, for installed programs and plugins run from the DESTDIR.
destdir_ld_path() {
	echo "$D$HORUS_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
