#!/bin/sh
# Runs the reliability suites (meson suite `reliability`: tests/reliability/bus and
# tests/reliability/daemon) and regenerates docs/reliability.md from what they measured: the
# `RELIABILITY: <what>: <figure>` lines each test prints, each test's own description (the header
# comment of its source file), its result, and the machine it ran on. The ENOSPC unit test
# (tests/unit/test-enospc.c) is run and quoted too.
#
#   scripts/reliability-report.sh                            load tests run 60 s each
#   HORUS_RELIABILITY_SECONDS=20 scripts/reliability-report.sh   shorter load runs
#   BUILD_DIR=build-x scripts/reliability-report.sh          another build directory
#   HORUS_REPORT_REV=abc1234 scripts/reliability-report.sh   names the revision of a tree exported
#                                                            with git archive (no .git)
#
# The document is written even when tests fail (their failures are quoted in it); the exit
# status is then 1.
set -eu
cd "$(dirname "$0")/.."

dir=${BUILD_DIR:-build-reliability}
HORUS_RELIABILITY_SECONDS=${HORUS_RELIABILITY_SECONDS:-60}
export HORUS_RELIABILITY_SECONDS
out=docs/reliability.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -d "$dir" ]; then
	meson setup "$dir" >/dev/null
fi
echo "== build ($dir)"
ninja -C "$dir" >/dev/null

status=0
echo "== reliability suites (HORUS_RELIABILITY_SECONDS=$HORUS_RELIABILITY_SECONDS)"
# Timeouts in the meson files fit the 20 s CI default; the longer runs need more.
meson test -C "$dir" --suite reliability --num-processes "$(nproc)" --timeout-multiplier 4 \
	--print-errorlogs || status=1
cp "$dir/meson-logs/testlog.json" "$tmp/reliability.json"
echo "== ENOSPC (quoted in the report)"
meson test -C "$dir" enospc --print-errorlogs || status=1
cp "$dir/meson-logs/testlog.json" "$tmp/enospc.json"
meson introspect "$dir" --targets >"$tmp/targets.json"
meson introspect "$dir" --buildoptions >"$tmp/options.json"

# The revision measured. An exported tree (git archive) has no history: name it with
# HORUS_REPORT_REV.
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
	if [ -n "$(git status --porcelain -- shm libhorus daemon tools tests 2>/dev/null)" ]; then
		commit="$commit (with uncommitted changes in the tree)"
	fi
else
	commit="${HORUS_REPORT_REV:-unknown} (exported tree)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)

python3 - "$tmp" "$out" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(uname -sr)" \
	"${cpu:-unknown}" "$commit" "$HORUS_RELIABILITY_SECONDS" "$(pwd)" <<'EOF'
import json, os, re, sys

tmp, out, date, nproc, kernel, cpu, commit, seconds, root = sys.argv[1:]


def load_log(name):
    with open(os.path.join(tmp, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


tests = load_log("reliability.json")
enospc = load_log("enospc.json")
with open(os.path.join(tmp, "targets.json")) as f:
    targets = json.load(f)
with open(os.path.join(tmp, "options.json")) as f:
    options = {o["name"]: o["value"] for o in json.load(f)}

# An executable's first source file, whose header comment says what the test does.
sources = {}
for t in targets:
    for fn in t.get("filename", []):
        for ts in t.get("target_sources", []):
            if ts.get("sources"):
                sources[fn] = ts["sources"][0]
                break


def header_comment(path):
    """The first block comment after the SPDX line, as Markdown text."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    for m in re.finditer(r"/\*(.*?)\*/", text, re.S):
        body = m.group(1)
        if "SPDX-License-Identifier" in body:
            continue
        lines = []
        for line in body.splitlines():
            line = re.sub(r"^\s*\* ?", "", line.rstrip())
            lines.append(line)
        return "\n".join(lines).strip()
    return ""


def short_name(full):
    return full.split(" / ")[-1]


def suite_of(full):
    suites = full.split(" / ")[0].split(":")[-1].split("+")
    for s in suites:
        if s.startswith("reliability-"):
            return s[len("reliability-"):]
    return suites[0]


def describe(t):
    src = sources.get(t["command"][0], "")
    return header_comment(src), os.path.relpath(src, root) if src else ""


def outcome_lines(t):
    figures, notes, failures = [], [], []
    for line in ((t.get("stdout") or "") + "\n" + (t.get("stderr") or "")).splitlines():
        if line.startswith("RELIABILITY: "):
            what, _, figure = line[len("RELIABILITY: "):].partition(": ")
            figures.append((what, figure))
        elif line.startswith("note:") or line.startswith("NOTE"):
            notes.append(line)
        elif re.search(r":[FE]:", line) or "ERROR" in line:
            failures.append(line)
    return figures, notes, failures


tests.sort(key=lambda t: (suite_of(t["name"]), short_name(t["name"])))
w = []
w.append("# Reliability: faults, load and hostile input, measured")
w.append("")
w.append("Generated by `scripts/reliability-report.sh` (issue 6); do not edit by hand, run it "
         "again. Every figure below is a `RELIABILITY: <what>: <figure>` line printed by a test "
         "of the meson suite `reliability` while it checked its invariants; the description of "
         "each test is the header comment of its source file.")
w.append("")
w.append("Regenerate with:")
w.append("")
w.append("```sh")
w.append("scripts/reliability-report.sh    # HORUS_RELIABILITY_SECONDS=%s by default" % 60)
w.append("```")
w.append("")
w.append("Run a part of it: `meson test -C build --suite reliability` (load tests then last "
         "`HORUS_RELIABILITY_SECONDS`, default 20 s), `--suite reliability-bus` or "
         "`--suite reliability-daemon`. `HORUS_RELIABILITY_SCALE` multiplies loop counts "
         "(0.25 by default in ASan builds, which say so in their output).")
w.append("")
w.append("The rest of issue 6 runs in `./test.sh` and is not measured here: every suite again "
         "under ASan+UBSan and the threaded ones under TSan, the libFuzzer targets "
         "(`tests/fuzz/run-fuzz.sh`), and static analysis (`scripts/static-analysis.sh`).")
w.append("")
w.append("## Machine and run")
w.append("")
w.append("| | |")
w.append("|---|---|")
w.append("| date | %s |" % date)
w.append("| CPUs (nproc) | %s |" % nproc)
w.append("| CPU | %s |" % cpu)
w.append("| kernel | %s |" % kernel)
w.append("| commit | %s |" % commit)
w.append("| build | %s, sanitizers: %s |" % (options.get("buildtype", "?"),
                                           options.get("b_sanitize", "none")))
w.append("| HORUS_RELIABILITY_SECONDS | %s |" % seconds)
w.append("")
w.append("The machine is shared: other work ran on it at the same time, which is part of what "
         "the tests have to survive.")
w.append("")
w.append("## Results")
w.append("")
w.append("| test | area | result | time |")
w.append("|---|---|---|---|")
for t in tests + enospc:
    w.append("| [%s](#%s) | %s | %s | %.1f s |" % (
        short_name(t["name"]), short_name(t["name"]), suite_of(t["name"]), t["result"],
        t["duration"]))
w.append("")
failed = [t for t in tests + enospc if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL")]
if failed:
    w.append("Failing: %s. A failing test in this suite reproduces a defect that is not fixed "
             "yet; its description and failure lines below say which." %
             ", ".join("`%s`" % short_name(t["name"]) for t in failed))
    w.append("")

def block(title, lines):
    if lines:
        if title:
            w.extend([title, ""])
        w.extend(lines)
        w.append("")


def section(t, quoted=False):
    """One test: heading, source, description, then its figures, notes and failures."""
    text, src = describe(t)
    figures, notes, failures = outcome_lines(t)
    w.append('<a id="%s"></a>' % short_name(t["name"]))
    w.append("### %s: %s in %.1f s" % (short_name(t["name"]), t["result"], t["duration"]))
    w.append("")
    if src:
        block(None, ["Source: `%s`%s." % (src, " (a unit test, quoted here)" if quoted else "")])
    block(None, [text] if text else [])
    block("Measured:", ["- **%s**: %s" % f for f in figures])
    for n in notes:
        block(None, ["> %s" % n])
    if quoted:
        output = [l for l in ((t.get("stdout") or "") + "\n" + (t.get("stderr") or ""))
                  .splitlines() if l.strip()]
        block("Output:", ["```"] + output + ["```"] if output else [])
    else:
        block("Failures:", ["```"] + failures + ["```"] if failures else [])


for area in sorted({suite_of(t["name"]) for t in tests}):
    w.append("## %s" % {"bus": "The bus (libhorus, shared memory)",
                         "daemon": "The daemon (horusd)"}.get(area, area))
    w.append("")
    for t in tests:
        if suite_of(t["name"]) == area:
            section(t)

w.append("## /dev/shm full (ENOSPC)")
w.append("")
for t in enospc:
    section(t, quoted=True)

with open(out, "w") as f:
    f.write("\n".join(w).rstrip() + "\n")
print("wrote %s" % out)
EOF
exit $status
