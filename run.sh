#!/bin/sh
# Installs what is missing, builds, and runs the demo in the foreground (Ctrl-C stops it).
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
# Until the daemon lands: a publisher and a subscriber process on a Hub topic, printing the
# live rate and one-way latency once a second.
exec build/tools/demo/horus-demo "$@"
