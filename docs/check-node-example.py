#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The node of docs/writing-a-node.md works as the page says (meson test --suite docs).

Takes the C file between <!-- example:hello.c --> and <!-- /example:hello.c -->, builds it as
the page tells a plugin author to (cc ... $(pkg-config --cflags --libs libhorus), against the
build tree's uninstalled libhorus.pc), checks it with `horusd --check-config`, then runs a real
horusd with two instances: one reading a file that exists, which must complete reads and
publish on hello/NAME, and one reading a file that does not, whose reads must fail and be
counted. Everything lives in a private directory under the build tree and namespace.

Usage: check-node-example.py PAGE.md BUILD_ROOT HORUSD CC
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BOUND_S = 60  # generous: a loaded 2-core machine, sanitizers


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def example(page):
    with open(page, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- example:hello.c -->\n```c\n(.*?)```\n<!-- /example:hello.c -->", text, re.S)
    if not m:
        fail(f"{page}: no ```c block between <!-- example:hello.c --> and its end marker")
    return m.group(1)


def ask(sock_path, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(sock_path)
        s.sendall((request + "\n").encode())
        return json.loads(s.makefile().readline())
    finally:
        s.close()


def wait_for(what, predicate, proc, log):
    """Polls predicate() until it returns a true value, for at most BOUND_S."""
    end = time.monotonic() + BOUND_S
    last = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            fail(f"horusd exited ({proc.returncode}) while waiting for {what}:\n{log()}")
        try:
            last = predicate()
        except (OSError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    fail(f"no {what} within {BOUND_S} s (last: {last}):\n{log()}")


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: check-node-example.py PAGE.md BUILD_ROOT HORUSD CC")
    page, build_root, horusd, cc = sys.argv[1:]
    work = tempfile.mkdtemp(prefix="docs-example-", dir=build_root)
    ns = f"docs-example-{os.getpid()}"
    proc = None
    try:
        nodes = os.path.join(work, "nodes")
        os.mkdir(nodes, 0o755)
        src = os.path.join(work, "hello.c")
        with open(src, "w", encoding="utf-8") as f:
            f.write(example(page))

        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(build_root, "meson-uninstalled"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libhorus"], env=env,
                               capture_output=True, text=True)
        if flags.returncode:
            fail(f"pkg-config --cflags --libs libhorus: {flags.stderr}")
        plugin = os.path.join(nodes, "hello.so")
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", "-shared",
               "-Wl,-z,defs", "-o", plugin, src] + flags.stdout.split()
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode:
            fail(f"{' '.join(cmd)}:\n{built.stderr}")
        os.chmod(plugin, 0o644)
        print("built:", " ".join(cmd))

        sock = os.path.join(work, "horusd.sock")
        conf = os.path.join(work, "horusd.ini")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"[daemon]\nplugin_dir = {nodes}\nnamespace = {ns}\n"
                    f"control_socket = {sock}\nlog_level = info\n\n"
                    f"[node.hello]\nrate_hz = 50\nperiod_ms = 50\npath = {os.path.abspath(page)}\n\n"
                    f"[node.missing]\nplugin = hello\nperiod_ms = 50\n"
                    f"path = {work}/no-such-file\ncircuit_threshold = 1000\n")

        check = subprocess.run([horusd, "--check-config", "-c", conf], capture_output=True,
                               text=True)
        if check.returncode != 0 or "configuration OK" not in check.stdout:
            fail(f"horusd --check-config exit {check.returncode}:\n{check.stdout}{check.stderr}")
        print("horusd --check-config: configuration OK")

        logpath = os.path.join(work, "horusd.log")
        logf = open(logpath, "w")
        proc = subprocess.Popen([horusd, "-c", conf], stdout=logf, stderr=subprocess.STDOUT)

        def log():
            with open(logpath, encoding="utf-8", errors="replace") as f:
                return f.read()

        def node(name):
            reply = ask(sock, f"1 node info {name}")
            return reply.get("node")

        hello = wait_for("3 completed reads of node hello",
                         lambda: (n := node("hello")) and n["io"]["completed"] >= 3 and n, proc, log)
        if hello["state"] not in ("running", "degraded") or hello["io"]["failed"]:
            fail(f"node hello: {hello}")
        missing = wait_for("3 failed reads of node missing",
                           lambda: (n := node("missing")) and n["io"]["failed"] >= 3 and n, proc, log)
        if missing["io"]["completed"]:
            fail(f"node missing completed a read of a file that does not exist: {missing}")
        topic = f"/dev/shm/horus.{ns}.hub.hello+hello"
        if not os.path.exists(topic):
            fail(f"node hello did not open its topic: no {topic}")
        wait_for("the failure message in the log",
                 lambda: "node missing: read failed: cannot open" in log(), proc, log)
        print(f"node hello: {hello['io']['completed']} reads completed, state {hello['state']}")
        print(f"node missing: {missing['io']['failed']} reads failed and counted")

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(BOUND_S)
        except subprocess.TimeoutExpired:
            fail(f"horusd did not stop within {BOUND_S} s of SIGTERM:\n{log()}")
        if code != 0:
            fail(f"horusd exited {code} after SIGTERM:\n{log()}")
        if "node hello: stopped:" not in log():
            fail(f"node hello's fini did not run:\n{log()}")
        print("horusd stopped cleanly; fini ran")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        for name in os.listdir("/dev/shm"):
            if name.startswith(f"horus.{ns}."):
                os.unlink(os.path.join("/dev/shm", name))


if __name__ == "__main__":
    main()
