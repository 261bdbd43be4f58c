#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Code the docs quote is the code in the tree (meson test --suite docs).

A page quotes a file as

    <!-- quote:examples/hello_node/hello_node.c -->
    ```c
    ...the file, byte for byte...
    ```
    <!-- /quote -->

(the path relative to the source root). The file is the one source: it is built and tested
where it lives; this test fails when a page's copy differs from it, and names the first line
that does.

Usage: check-quotes.py SOURCE_ROOT PAGE.md...
"""

import os
import re
import sys

QUOTE = re.compile(r"<!-- quote:(\S+) -->\n```[a-z]*\n(.*?)```\n<!-- /quote -->", re.S)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: check-quotes.py SOURCE_ROOT PAGE.md...")
    root, pages = sys.argv[1], sys.argv[2:]
    problems, checked = [], 0
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        if text.count("<!-- quote:") != len(QUOTE.findall(text)):
            problems.append(f"{page}: a '<!-- quote:' marker without its code block or end")
        for m in QUOTE.finditer(text):
            path, quoted = m.group(1), m.group(2)
            try:
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    real = f.read()
            except OSError as e:
                problems.append(f"{page}: quotes {path}: {e.strerror}")
                continue
            checked += 1
            if quoted == real:
                continue
            a, b = quoted.split("\n"), real.split("\n")
            n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            line = text[: m.start(2)].count("\n") + n + 1
            problems.append(f"{page}:{line}: differs from {path}:{n + 1}: copy the file again")
    for p in problems:
        print(p)
    print(f"{checked} quotes checked, {len(problems)} problems")
    sys.exit(1 if problems or not checked else 0)


if __name__ == "__main__":
    main()
