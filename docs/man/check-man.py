#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages document what the code accepts: the docs test (meson test --suite docs).

- horusd.ini(5): every key in daemon/config.c's key table appears as a term under its section
  ([daemon], [pool.NAME], [topic.NAME], [node.NAME]), and no term there names a key that
  config.c does not have. A key added to config.c without documentation fails this test.
- horusd(8): every long option of daemon/main.c's getopt table appears under OPTIONS.
- horusctl(1): every command of DESIGN.md (the list below) and every command in the verb table
  of tools/horusctl/args.c appears as a term under COMMANDS, and every global option under
  OPTIONS. A command added to horusctl without documentation fails this test.

Reads the built roff (what `man` shows), not the sources.

Usage: check-man.py CONFIG_C MAIN_C HORUSCTL_ARGS_C HORUSD_INI_5 HORUSD_8 HORUSCTL_1
"""

import re
import sys

# DESIGN.md, "Command line": the horusctl commands and global options users rely on.
HORUSCTL_COMMANDS = [
    "status",
    "node list",
    "node info",
    "node restart",
    "node stop",
    "node start",
    "topic list",
    "topic info",
    "topic echo",
    "topic hz",
    "topic bw",
    "topic pub",
    "top",
    "reload",
    "clean",
]
HORUSCTL_OPTIONS = ["--socket", "--namespace", "--json"]

# The section each entry macro of config.c's table fills: D("key", ...) is a [daemon] key.
CONFIG_SECTIONS = {"D": "[daemon]", "P": "[pool.NAME]", "T": "[topic.NAME]", "N": "[node.NAME]"}


def config_keys(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"static const struct cfg_item items\[\] = \{(.*?)\n\};", text, re.S)
    if not table:
        sys.exit(f"{path}: cannot find the key table 'items[]'")
    keys = {s: set() for s in CONFIG_SECTIONS.values()}
    for macro, key in re.findall(r'^\s*([A-Z])\("([^"]+)"', table.group(1), re.M):
        if macro not in CONFIG_SECTIONS:
            sys.exit(f"{path}: unknown entry macro {macro}() in items[]")
        keys[CONFIG_SECTIONS[macro]].add(key)
    if sum(len(k) for k in keys.values()) < 10:
        sys.exit(f"{path}: found only {keys}: has the table's form changed?")
    return keys


def horusctl_commands(path):
    """The commands of horusctl's verb table: {"status", NULL, CTL_STATUS, ...} is "status"."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"static const struct verb_def verbs\[\] = \{(.*?)\n\};", text, re.S)
    if not table:
        sys.exit(f"{path}: cannot find the verb table 'verbs[]'")
    found = []
    for w1, w2, verb in re.findall(r'\{"([a-z]+)", (?:"([a-z]+)"|NULL), (CTL_[A-Z_]+)', table.group(1)):
        if verb != "CTL_HELP":  # -h and --help are options
            found.append(f"{w1} {w2}" if w2 else w1)
    if len(found) < 10:
        sys.exit(f"{path}: found only {found}: has the table's form changed?")
    return found


def horusd_options(path):
    """The long options of horusd's getopt table: { "config", required_argument, ... }."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"static const struct option opts\[\] = \{(.*?)\n\t\};", text, re.S)
    if not table:
        sys.exit(f"{path}: cannot find the option table 'opts[]'")
    found = ["--" + o for o in re.findall(r'\{ "([a-z-]+)",', table.group(1))]
    if len(found) < 3:
        sys.exit(f"{path}: found only {found}: has the table's form changed?")
    return found


def plain(roff):
    """Roff text to what a reader sees."""
    roff = re.sub(r"\\f[BIRP]", "", roff)
    roff = roff.replace("\\&", "").replace("\\-", "-").replace("\\(aq", "'")
    return roff.replace("\\e", "\\").strip()


def terms(path):
    """{(section, subsection): [term, ...]}: a term is a bold line followed by an indent."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    found = {}
    sh = ss = ""
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            sh, ss = plain(line[4:]).strip('"'), ""
        elif line.startswith(".SS "):
            ss = plain(line[4:]).strip('"')
        elif line.startswith("\\fB") and i + 1 < len(lines) and lines[i + 1].startswith(".RS"):
            found.setdefault((sh, ss), []).append(plain(line))
    return found


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: check-man.py CONFIG_C MAIN_C HORUSCTL_ARGS_C HORUSD_INI_5 HORUSD_8 HORUSCTL_1")
    config_c, main_c, args_c, ini5, horusd8, ctl1 = sys.argv[1:]
    problems = []

    want = config_keys(config_c)
    have = terms(ini5)
    for section, keys in want.items():
        documented = set(have.get(("SECTIONS AND KEYS", section), []))
        for key in sorted(keys - documented):
            problems.append(f"horusd.ini.5: {section} {key}: accepted by config.c, not documented")
        for key in sorted(documented - keys):
            problems.append(f"horusd.ini.5: {section} {key}: documented, not in config.c")
        print(f"horusd.ini.5 {section}: {len(keys & documented)} of {len(keys)} keys documented")

    have = terms(horusd8)
    options = " ".join(have.get(("OPTIONS", ""), []))
    wanted = horusd_options(main_c)
    missing = [o for o in wanted if not re.search(re.escape(o) + r"(?![\w-])", options)]
    for opt in missing:
        problems.append(f"horusd.8: option {opt} is not documented under OPTIONS")
    print(f"horusd.8 OPTIONS: {len(wanted) - len(missing)} of {len(wanted)} options documented")

    have = terms(ctl1)
    commands = have.get(("COMMANDS", ""), [])
    wanted = HORUSCTL_COMMANDS + [c for c in horusctl_commands(args_c) if c not in HORUSCTL_COMMANDS]
    missing = [c for c in wanted if not any(t == c or t.startswith(c + " ") for t in commands)]
    for cmd in missing:
        problems.append(f"horusctl.1: command '{cmd}' is not documented under COMMANDS")
    options = " ".join(have.get(("OPTIONS", ""), []))
    for opt in HORUSCTL_OPTIONS:
        if not re.search(re.escape(opt) + r"(?![\w-])", options):
            problems.append(f"horusctl.1: option {opt} is not documented under OPTIONS")
    n = len(wanted)
    print(f"horusctl.1 COMMANDS: {n - len(missing)} of {n} commands (DESIGN.md, args.c) documented")

    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
