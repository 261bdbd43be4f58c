#!/bin/sh
# The installed sysusers.d and tmpfiles.d snippets, applied by systemd's own tools to an empty
# root directory (--root): a system user and group horus with no login shell, and /run/horus
# owned by them, mode 0750, as the unit's RuntimeDirectory= makes it.
. "$(dirname "$0")/lib.sh"

for tool in systemd-sysusers systemd-tmpfiles; do
	command -v $tool >/dev/null || {
		echo "$tool not found (Debian package systemd): skipped"
		exit 77
	}
done
if [ "$(id -u)" -ne 0 ]; then
	echo "not root: systemd-tmpfiles cannot chown /run/horus in the root dir: skipped"
	exit 77
fi
install_into_destdir
R="$D/root"
mkdir -p "$R/etc" "$R/run"

systemd-sysusers --root="$R" "$D$HORUS_SYSUSERS_DIR/horus.conf" ||
	fail "systemd-sysusers refused $HORUS_SYSUSERS_DIR/horus.conf"
pw=$(grep '^horus:' "$R/etc/passwd") || fail "no user horus in the root's /etc/passwd"
gr=$(grep '^horus:' "$R/etc/group") || fail "no group horus in the root's /etc/group"
uid=$(echo "$pw" | cut -d: -f3)
gid=$(echo "$pw" | cut -d: -f4)
[ "$gid" = "$(echo "$gr" | cut -d: -f3)" ] || fail "user horus is not in group horus: $pw / $gr"
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "horus is not a system user: uid $uid"
case "$(echo "$pw" | cut -d: -f7)" in
*/nologin) ;;
*) fail "user horus can log in: $pw" ;;
esac
echo "ok systemd-sysusers: $pw"

systemd-tmpfiles --create --root="$R" "$D$HORUS_TMPFILES_DIR/horus.conf" ||
	fail "systemd-tmpfiles refused $HORUS_TMPFILES_DIR/horus.conf"
[ -d "$R/run/horus" ] || fail "systemd-tmpfiles did not create /run/horus"
got=$(stat -c '%04a %u %g' "$R/run/horus")
[ "$got" = "0750 $uid $gid" ] || fail "/run/horus: mode uid gid $got, expected 0750 $uid $gid"
echo "ok systemd-tmpfiles: /run/horus $got (horus:horus)"

# The unit agrees on the directory's mode.
grep -q -x 'RuntimeDirectoryMode=0750' "$D$HORUS_UNIT_DIR/horusd.service" ||
	fail "horusd.service: RuntimeDirectoryMode is not the tmpfiles mode 0750"
echo "ok RuntimeDirectoryMode=0750 as in tmpfiles.d"
