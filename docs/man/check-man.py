#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages document what the code accepts: the docs test (meson test --suite docs).

- horusd.ini(5): every key in daemon/config.c's key table appears as a term under its section
  ([daemon], [pool.NAME], [topic.NAME], [node.NAME]), and no term there names a key that
  config.c does not have. A key added to config.c without documentation fails this test.
- config/horusd.ini, the commented reference that is installed as /etc/horus/horusd.ini, shows
  every key of config.c in its section (set, or commented out as ";key = ...").
- horusd(8): every long option of daemon/main.c's getopt table appears under OPTIONS.
- horusctl(1): every command of DESIGN.md (the list below) and every command in the verb table
  of tools/horusctl/args.c appears as a term under COMMANDS, and every global option under
  OPTIONS. A command added to horusctl without documentation fails this test.

Reads the built roff (what `man` shows), not the sources.

Usage: check-man.py CONFIG_C MAIN_C HORUSCTL_ARGS_C HORUSD_INI HORUSD_INI_5 HORUSD_8 HORUSCTL_1
"""

import os
import re
import sys

# DESIGN.md, "Command line": the horusctl commands and global options users rely on.
HORUSCTL_COMMANDS = ["status", "node list", "node info", "node restart", "node stop",
                     "node start", "topic list", "topic info", "topic echo", "topic hz",
                     "topic bw", "topic pub", "top", "reload", "clean"]
HORUSCTL_OPTIONS = ["--socket", "--namespace", "--json"]

# The section each entry macro of config.c's table fills: D("key", ...) is a [daemon] key.
CONFIG_SECTIONS = {"D": "[daemon]", "P": "[pool.NAME]", "T": "[topic.NAME]", "N": "[node.NAME]"}


def c_table(path, declaration, entry, at_least):
    """The entries of a static table in a C file: re.findall(entry) over the lines between
    `declaration = {` and the `};` that closes it. Exits when fewer than at_least are found, so
    that a table whose form changed fails the test instead of passing it empty."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    table = re.search(re.escape(declaration) + r" = \{(.*?)\n\s*\};", text, re.S)
    found = re.findall(entry, table.group(1), re.M) if table else []
    if len(found) < at_least:
        sys.exit(f"{path}: '{declaration}' has {len(found)} entries of the expected form")
    return found


def config_keys(path):
    """{section: keys} from config.c's key table: D("plugin_dir", ...) is a [daemon] key."""
    keys = {s: set() for s in CONFIG_SECTIONS.values()}
    for macro, key in c_table(path, "static const struct cfg_item items[]",
                              r'^\s*([A-Z])\("([^"]+)"', 10):
        if macro not in CONFIG_SECTIONS:
            sys.exit(f"{path}: unknown entry macro {macro}() in items[]")
        keys[CONFIG_SECTIONS[macro]].add(key)
    return keys


def horusctl_commands(path):
    """The commands of horusctl's verb table: {"node", "list", CTL_NODE_LIST, ...}."""
    entries = c_table(path, "static const struct verb_def verbs[]",
                      r'\{"([a-z]+)", (?:"([a-z]+)"|NULL), (CTL_[A-Z_]+)', 10)
    # CTL_HELP is the verb of -h and --help, which are options.
    return [f"{w1} {w2}" if w2 else w1 for w1, w2, verb in entries if verb != "CTL_HELP"]


def horusd_options(path):
    """The long options of horusd's getopt table: { "config", required_argument, ... }."""
    found = c_table(path, "static const struct option opts[]", r'\{ "([a-z-]+)",', 3)
    return ["--" + o for o in found]


def ini_keys(path):
    """{section: keys} shown in an INI file, commented out or not: ";[pool.camera]" is a
    [pool.NAME] section, ";workers = 2" a key of it."""
    keys = {s: set() for s in CONFIG_SECTIONS.values()}
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if m := re.match(r";?\[(daemon|pool|topic|node)\b", line):
                kind = m.group(1)
                section = "[daemon]" if kind == "daemon" else f"[{kind}.NAME]"
            elif (m := re.match(r";?([a-z_]+) *=", line)) and section:
                keys[section].add(m.group(1))
    return keys


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
    if len(sys.argv) != 8:
        sys.exit(__doc__.strip().split("\n")[-1])
    config_c, main_c, args_c, ini, ini5, horusd8, ctl1 = sys.argv[1:]
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

    shown = ini_keys(ini)
    for section, keys in want.items():
        for key in sorted(keys - shown[section]):
            problems.append(f"{ini}: {section} {key}: accepted by config.c, not shown")
    print(f"{os.path.basename(ini)}: {sum(len(k & shown[s]) for s, k in want.items())} of "
          f"{sum(len(k) for k in want.values())} keys shown")

    have = terms(horusd8)
    options = " ".join(have.get(("OPTIONS", ""), []))
    wanted = horusd_options(main_c)
    missing = [o for o in wanted if not re.search(re.escape(o) + r"(?![\w-])", options)]
    for opt in missing:
        problems.append(f"horusd.8: option {opt} is not documented under OPTIONS")
    print(f"horusd.8 OPTIONS: {len(wanted) - len(missing)} of {len(wanted)} options documented")

    have = terms(ctl1)
    commands = have.get(("COMMANDS", ""), [])
    built = horusctl_commands(args_c)
    wanted = HORUSCTL_COMMANDS + [c for c in built if c not in HORUSCTL_COMMANDS]
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
