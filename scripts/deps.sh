#!/bin/sh
# Installs the Debian packages the project needs, if any is missing. Sourced by run.sh/test.sh.
# Run as root on Debian 12 (apt-get update first, then one install of what is missing).
set -eu

HORUS_PACKAGES="meson ninja-build pkg-config gcc g++ clang libclang-rt-14-dev
libevent-dev libinih-dev check libsystemd-dev libcurl4-openssl-dev libncurses-dev python3 systemd tmux
scdoc stress-ng cppcheck make man-db procps"

missing=""
for p in $HORUS_PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages:$missing (run as root, or install them with apt-get)" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi
