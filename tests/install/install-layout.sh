#!/bin/sh
# `meson install --destdir`: every file in its FHS place with a sane mode, nothing writable by
# group or others, no installed binary pointing into the build tree, a usable libhorus.pc, and an
# installed configuration that documents every key and passes `horusd --check-config` with the
# installed nodes.
. "$(dirname "$0")/lib.sh"

install_into_destdir

# ---- files and modes ----
expect_file "$HORUS_SBINDIR/horusd" 0755
expect_file "$HORUS_BINDIR/horusctl" 0755
expect_file "$HORUS_BINDIR/horus-bench" 0755
expect_file "$HORUS_LIBDIR/libhorus.so.$HORUS_VERSION" 0755
for link in libhorus.so.0 libhorus.so; do
	[ -L "$D$HORUS_LIBDIR/$link" ] && [ -e "$D$HORUS_LIBDIR/$link" ] ||
		fail "$HORUS_LIBDIR/$link: missing or dangling symlink"
	echo "ok link $HORUS_LIBDIR/$link -> $(readlink "$D$HORUS_LIBDIR/$link")"
done
for h in horus.h pubsub.h node.h; do
	expect_file "$HORUS_INCLUDEDIR/horus/$h" 0644
done
expect_file "$HORUS_LIBDIR/pkgconfig/libhorus.pc" 0644
# horusd refuses plugins in a directory writable by group or others.
expect_dir "$HORUS_PLUGIN_DIR" 0755
nodes="camera_sim http_sensor log_writer periodic_sensor"
for n in $nodes; do
	expect_file "$HORUS_PLUGIN_DIR/$n.so" 0755
done
# Only the shipped nodes: horusd loads every *.so there (bench_node lives elsewhere).
for f in "$D$HORUS_PLUGIN_DIR"/*; do
	case " $nodes " in
	*" $(basename "$f" .so) "*) ;;
	*) fail "$HORUS_PLUGIN_DIR holds more than the shipped nodes: $(basename "$f")" ;;
	esac
done
expect_file "$HORUS_SYSCONF_DIR/horusd.ini" 0644
expect_dir "$HORUS_SYSCONF_DIR/horusd.d" 0755
[ -z "$(ls -A "$D$HORUS_SYSCONF_DIR/horusd.d")" ] || fail "horusd.d is not empty"
expect_file "$HORUS_UNIT_DIR/horusd.service" 0644
expect_file "$HORUS_SYSUSERS_DIR/horus.conf" 0644
expect_file "$HORUS_TMPFILES_DIR/horus.conf" 0644

writable=$(find "$D" -mindepth 1 ! -type l -perm /022)
[ -z "$writable" ] || fail "writable by group or others: $writable"
echo "ok nothing installed is writable by group or others"

# meson drops the build tree's RUNPATH on install; an installed binary must not search it.
for f in "$HORUS_SBINDIR/horusd" "$HORUS_BINDIR/horusctl" "$HORUS_BINDIR/horus-bench" \
	"$HORUS_LIBDIR/libhorus.so.$HORUS_VERSION" "$HORUS_PLUGIN_DIR/http_sensor.so"; do
	if readelf -d "$D$f" | grep -E 'R(UN)?PATH' | grep -q -F "$HORUS_BUILD_ROOT"; then
		fail "$f: RUNPATH points into the build tree"
	fi
done
echo "ok no installed binary has a RUNPATH into the build tree"

# ---- libhorus.pc ----
pc() {
	PKG_CONFIG_LIBDIR="$D$HORUS_LIBDIR/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D" pkg-config "$@"
}
[ "$(pc --modversion libhorus)" = "$HORUS_VERSION" ] || fail "libhorus.pc: version $(pc --modversion libhorus)"
flags=$(pc --cflags --libs libhorus)
case " $flags " in
*" -I$D$HORUS_INCLUDEDIR "*" -lhorus "*) echo "ok pkg-config --cflags --libs libhorus: $flags" ;;
*) fail "pkg-config --cflags --libs libhorus: $flags" ;;
esac

# ---- the configuration ----
# The installed horusd.ini is config/horusd.ini with this prefix's plugin_dir.
diff "$HORUS_SOURCE_ROOT/config/horusd.ini" "$D$HORUS_SYSCONF_DIR/horusd.ini" >"$D/ini.diff" || true
changed=$(grep -c '^[<>]' "$D/ini.diff" || true)
if [ "$HORUS_PLUGIN_DIR" = /usr/lib/horus/nodes ]; then
	[ "$changed" -eq 0 ] || fail "installed horusd.ini differs from config/horusd.ini: $(cat "$D/ini.diff")"
else
	[ "$changed" -eq 2 ] && grep -q "^> plugin_dir = $HORUS_PLUGIN_DIR " "$D/ini.diff" ||
		fail "installed horusd.ini: expected only plugin_dir = $HORUS_PLUGIN_DIR to change: $(cat "$D/ini.diff")"
fi
echo "ok installed horusd.ini = config/horusd.ini with plugin_dir = $HORUS_PLUGIN_DIR"

# Every key of daemon/config.c's table is in the reference, in its section; every key the
# reference shows in [daemon], [pool.*] and [topic.*] exists (other [node.*] keys are plugin
# parameters).
sed -n 's/^[[:space:]]*\([DPTN]\)("\([a-z_]*\)".*/\1 \2/p' "$HORUS_SOURCE_ROOT/daemon/config.c" |
	sed -e 's/^D /daemon:/' -e 's/^P /pool:/' -e 's/^T /topic:/' -e 's/^N /node:/' |
	sort -u >"$D/keys.code"
[ "$(wc -l <"$D/keys.code")" -ge 20 ] || fail "could not read the key table of daemon/config.c"
sed -e 's/^;//' "$HORUS_SOURCE_ROOT/config/horusd.ini" | awk '
	/^\[/ { sec = $0; sub(/^\[/, "", sec); sub(/[.\]].*/, "", sec); next }
	/^[a-z_]+[[:space:]]*=/ { key = $0; sub(/[[:space:]]*=.*/, "", key); print sec ":" key }' |
	sort -u >"$D/keys.ini"
missing=$(comm -23 "$D/keys.code" "$D/keys.ini")
[ -z "$missing" ] || fail "config/horusd.ini does not document: $missing"
unknown=$(comm -13 "$D/keys.code" "$D/keys.ini" | grep -v '^node:' || true)
[ -z "$unknown" ] || fail "config/horusd.ini shows keys horusd does not know: $unknown"
echo "ok config/horusd.ini documents all $(wc -l <"$D/keys.code") keys of daemon/config.c"

# The installed horusd checks the installed configuration and loads every installed node
# (plugin_dir redirected into the DESTDIR by a drop-in, which also tests horusd.d/).
printf '[daemon]\nplugin_dir = %s\n' "$D$HORUS_PLUGIN_DIR" >"$D$HORUS_SYSCONF_DIR/horusd.d/50-destdir.ini"
out=$(LD_LIBRARY_PATH=$(destdir_ld_path) "$D$HORUS_SBINDIR/horusd" --check-config \
	-c "$D$HORUS_SYSCONF_DIR/horusd.ini" 2>&1) || fail "horusd --check-config: $out"
[ "$out" = "configuration OK" ] || fail "horusd --check-config said: $out"
echo "ok installed horusd --check-config on the installed horusd.ini and nodes: $out"
version=$(LD_LIBRARY_PATH=$(destdir_ld_path) "$D$HORUS_SBINDIR/horusd" --version)
[ "$version" = "horusd $HORUS_VERSION" ] || fail "horusd --version: $version"
echo "ok $version"

# Man pages are built by docs/ when scdoc is there: report what was installed.
for m in man1/horusctl.1 man5/horusd.ini.5 man8/horusd.8; do
	if [ -f "$D$HORUS_MANDIR/$m" ]; then
		echo "ok $HORUS_MANDIR/$m"
	else
		echo "note: $HORUS_MANDIR/$m is not installed"
	fi
done
