#!/bin/sh
# Installs what is missing, builds, and runs the demo in the foreground (Ctrl-C stops it):
# horusd with the shipped nodes (config/demo.ini). `./run.sh bus` runs the bus demo instead:
# a publisher and a subscriber process printing live rate and one-way latency.
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
if [ "${1:-}" = bus ]; then
	shift
	exec build/tools/demo/horus-demo "$@"
fi
mkdir -p build/demo
cat <<'MSG'
horusd demo: config/demo.ini, nodes from build/nodes, namespace 'demo'. In another terminal:
  node states (JSON, until horusctl lands):
    python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('build/demo/horusd.sock'); s.sendall(b'1 node list\n'); print(s.makefile().readline())"
  sensor log:   tail -f build/demo/sensors.log
Ctrl-C stops it cleanly.
MSG
exec build/daemon/horusd -c config/demo.ini
