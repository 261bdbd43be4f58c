#!/bin/sh
# horusd.service as installed: `systemd-analyze verify` prints nothing about it, and it carries
# the settings DESIGN.md ("Running under systemd") asks for.
#
# What verify checks here: this may run where PID 1 is not systemd (a container, CI). verify
# does not need a running manager: it loads the unit into a private manager in test mode, with
# the host's unit search path for the units it refers to (network.target, multi-user.target,
# the default dependencies). It parses every line (an unknown key or a bad value is printed as
# a warning but does not change the exit status, hence the check that the output is empty),
# checks that each Exec*= command exists and is executable, that the Documentation= man pages
# exist (when they are installed), and that a start job for the unit can be built. It does not
# check that User=horus exists, nor does it run the sandbox: that needs a real systemd.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || {
	echo "systemd-analyze not found (Debian package systemd): skipped"
	exit 77
}
install_into_destdir
unit="$D$HORUS_UNIT_DIR/horusd.service"
[ -f "$unit" ] || fail "$HORUS_UNIT_DIR/horusd.service is not installed"

# verify wants ExecStart's binary to exist. Outside a real install it is in the DESTDIR, so
# verify a copy whose ExecStart names that file: the only line that differs.
grep -q -x "ExecStart=$HORUS_SBINDIR/horusd" "$unit" ||
	fail "ExecStart is not $HORUS_SBINDIR/horusd: $(grep '^ExecStart=' "$unit")"
mkdir "$D/verify"
sed "s|^ExecStart=$HORUS_SBINDIR/horusd\$|ExecStart=$D$HORUS_SBINDIR/horusd|" "$unit" \
	>"$D/verify/horusd.service"
[ "$(diff "$unit" "$D/verify/horusd.service" | grep -c '^[<>]')" -eq 2 ] ||
	fail "the copy differs by more than ExecStart"

# The Documentation= man pages are checked when docs/ installed them (scdoc) and man (man-db)
# is there to look them up.
if [ -f "$D$HORUS_MANDIR/man8/horusd.8" ] && [ -f "$D$HORUS_MANDIR/man5/horusd.ini.5" ] &&
	command -v man >/dev/null; then
	man_opt=--man=yes
	echo "Documentation= man pages: checked against $HORUS_MANDIR in the DESTDIR"
else
	man_opt=--man=no
	echo "note: man pages not installed (no scdoc?) or no man (man-db): Documentation= not checked"
fi
set +e
out=$(cd "$D/verify" && MANPATH="$D$HORUS_MANDIR" SYSTEMD_LOG_COLOR=0 \
	systemd-analyze verify "$man_opt" ./horusd.service 2>&1)
rc=$?
set -e
[ "$rc" -eq 0 ] && [ -z "$out" ] ||
	fail "systemd-analyze verify (exit $rc) printed:
$out"
echo "ok systemd-analyze verify $man_opt horusd.service: exit 0, no output ($(systemd-analyze --version | head -n 1))"

# DESIGN.md "Running under systemd", line by line.
for line in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' \
	'RuntimeDirectory=horus' 'ConfigurationDirectory=horus' 'User=horus' 'Group=horus' \
	'RemoveIPC=no' 'UMask=0007' 'ProtectSystem=strict' 'ProtectHome=yes' \
	'NoNewPrivileges=yes' 'PrivateDevices=yes' 'SystemCallArchitectures=native' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
	grep -q -x -F "$line" "$unit" || fail "horusd.service lacks: $line"
done
grep -q -x 'WatchdogSec=[1-9][0-9]*s' "$unit" || fail "horusd.service lacks WatchdogSec="
! grep -q -E '^(DynamicUser|Type=notify-reload)' "$unit" ||
	fail "horusd.service uses DynamicUser= or notify-reload"
echo "ok horusd.service has every setting DESIGN.md asks for"

# For the record, not a pass mark: systemd's own exposure estimate (0 safe .. 10 unsafe).
props=$(cd "$D/verify" && systemd-analyze security --offline=yes --man=no ./horusd.service 2>&1 |
	grep 'Overall exposure level') || true
echo "systemd-analyze security --offline: ${props:-no figure}"
