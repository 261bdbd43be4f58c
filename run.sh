#!/bin/sh
# Installs what is missing, builds, and runs the demo in the foreground: horusd with
# config/demo.ini and the shipped nodes from build/nodes. Ctrl-C stops it cleanly (horusd stops
# its nodes, removes its segments and exits 0 on SIGINT, as on SIGTERM).
# `./run.sh bus` runs the bus demo instead: a publisher and a subscriber process printing live
# rate and one-way latency.
set -eu
cd "$(dirname "$0")"
./scripts/deps.sh
if [ ! -d build ]; then
	log=$(mktemp)
	meson setup build >"$log" 2>&1 || {
		cat "$log" >&2
		rm -f "$log"
		exit 1
	}
	rm -f "$log"
fi
echo "building (ninja -C build) ..."
if ! ninja -C build >build/ninja.log 2>&1; then
	cat build/ninja.log >&2
	exit 1
fi
if [ "${1:-}" = bus ]; then
	shift
	exec build/tools/demo/horus-demo "$@"
fi
mkdir -p build/demo
ctl="build/tools/horusctl/horusctl --socket build/demo/horusd.sock"
cat <<MSG

horusd demo: config/demo.ini, the shipped nodes from build/nodes, namespace 'demo'.
  camera    camera_sim, 100 Hz; its 50 ms frame reads run on a pool, frames on camera/front
  loadavg   periodic_sensor: /proc/loadavg once a second on sensor/loadavg
  weather   http_sensor: GET http://127.0.0.1:8765/temperature, where nobody answers: after
            5 failures its breaker opens (state tripped) and retries after 2 s, 4 s, 8 s ...
  recorder  log_writer: both sensor topics into build/demo/sensors.log

Watch it from another terminal (same directory):
  $ctl top
  $ctl node list
  $ctl node info weather
  $ctl topic list
  $ctl topic hz camera/front
  $ctl topic echo sensor/loadavg -n 3
Break something and watch it:
  $ctl node stop camera        (then: node start camera)
Make the weather node recover (its breaker closes at the next trial):
  mkdir -p build/demo/www && echo 21.5 >build/demo/www/temperature
  python3 -m http.server 8765 --bind 127.0.0.1 --directory build/demo/www
Ctrl-C here stops horusd.

MSG
exec build/daemon/horusd -c config/demo.ini
