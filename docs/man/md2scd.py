#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds an scdoc man page from a template and regions of the Markdown docs.

The Markdown pages in docs/ are the one source: the man pages carry the same text. A template
line

    @md ../configuration.md keys

is replaced by the region of docs/configuration.md between <!-- man:keys --> and
<!-- /man:keys --> (paths are relative to the template), rendered as scdoc. A region's
shallowest headings become sections (upper case), deeper ones subsections; with "sub" after the
region name, all become subsections, under a section the template names.

Only the Markdown the docs use is understood: "##"/"###" headings, paragraphs, "- " lists,
fenced code blocks, tables, and inline `code`, **bold**, *emphasis*, [links](url). A table row
becomes a term (its first cell) with an indented paragraph: the cell of the column headed
"meaning" or "what it does" (else the last one), then "Header: cell." for each other cell.
Anything else is an error, so that a man page never silently loses text.

Usage: md2scd.py TEMPLATE.scd.in > PAGE.scd
"""

import os
import re
import sys

INLINE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|\[(?P<ltext>[^\]]+)\]\((?P<url>[^)]+)\)"
    r"|\*\*(?P<bold>[^*]+)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s][^*]*)\*(?![\w*])"
)


# The table column that describes the row; the others are labelled with their header.
DESCRIPTION = ("meaning", "what it does", "what")


class RenderError(Exception):
    pass


def escape(text):
    """Plain text: scdoc's formatting characters taken literally."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def inline(text):
    out = []
    pos = 0
    for m in INLINE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        if m.group("code") is not None:
            out.append("*" + escape(m.group("code")) + "*")
        elif m.group("ltext") is not None:
            out.append(inline(m.group("ltext")))
        elif m.group("bold") is not None:
            out.append("*" + escape(m.group("bold")) + "*")
        else:
            out.append("_" + escape(m.group("em")) + "_")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def text_line(text):
    """A line of a paragraph: one starting with these would open a table, list or header."""
    line = inline(text)
    return "\\" + line if line[:1] in ("[", "|", "]", ":", "-", "#", ".") else line


def sentence(text):
    """Capitalised and ending with a full stop."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and cells[0] == "":
        cells = cells[1:]
    if cells and cells[-1] == "":
        cells = cells[:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def render_table(rows, where):
    if len(rows) < 2 or not re.fullmatch(r"[\s|:-]+", rows[1]):
        raise RenderError(f"{where}: a table needs a header row and a |---| row")
    header = split_row(rows[0])
    out = []
    for row in rows[2:]:
        cells = split_row(row)
        if len(cells) != len(header):
            raise RenderError(f"{where}: row has {len(cells)} cells, header {len(header)}")
        term = inline(cells[0])
        if not term.startswith("*"):
            term = "*" + term + "*"
        out.append(term)
        # One paragraph: the description cell first, then "Header: cell." for the others.
        desc = next((n for n, h in enumerate(header) if h.lower() in DESCRIPTION), len(cells) - 1)
        body = [sentence(inline(cells[desc]))] if desc > 0 and cells[desc] else []
        for n in range(1, len(cells)):
            if n != desc and cells[n]:
                body.append(sentence(escape(header[n].capitalize()) + ": " + inline(cells[n])))
        if body:
            out.append("\t" + " ".join(body))
        out.append("")
    return out


def render(lines, sub, path, first):
    # The region's shallowest headings are the man page's sections, deeper ones subsections.
    top = min((len(m.group(1)) for l in lines if (m := re.match(r"(#{2,4}) ", l.strip()))),
              default=2)
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        loc = f"{path}:{first + i + 1}"
        if not stripped or re.fullmatch(r"<!--.*-->", stripped):
            if out and out[-1] != "":
                out.append("")
            i += 1
        elif stripped.startswith("```"):
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            if end == len(lines):
                raise RenderError(f"{loc}: code block never closed")
            out.append("\t```")
            out.extend("\t" + l for l in lines[i + 1 : end])
            out.extend(["\t```", ""])
            i = end + 1
        elif stripped.startswith("|"):
            end = i
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            out.extend(render_table(lines[i:end], loc))
            i = end
        elif m := re.fullmatch(r"(#{2,4}) +(.*)", stripped):
            if sub or len(m.group(1)) > top:
                out.extend(["", "## " + m.group(2), ""])
            else:
                out.extend(["", "# " + m.group(2).upper(), ""])
            i += 1
        elif stripped.startswith("#"):
            raise RenderError(f"{loc}: only ## to #### headings belong in a man region")
        elif line.startswith("- "):
            out.append("- " + inline(line[2:]))
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                out.append("  " + text_line(lines[i].strip()))
                i += 1
        else:
            out.append(text_line(stripped))
            i += 1
    while out and out[-1] == "":
        out.pop()
    return out


def region(path, name):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    begin, end = f"<!-- man:{name} -->", f"<!-- /man:{name} -->"
    starts = [n for n, l in enumerate(lines) if l.strip() == begin]
    ends = [n for n, l in enumerate(lines) if l.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise RenderError(f"{path}: needs exactly one '{begin}' ... '{end}'")
    return lines[starts[0] + 1 : ends[0]], starts[0] + 1


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: md2scd.py TEMPLATE.scd.in > PAGE.scd")
    template = sys.argv[1]
    base = os.path.dirname(template)
    out = []
    try:
        with open(template, encoding="utf-8") as f:
            for n, line in enumerate(f.read().split("\n"), 1):
                words = line.split()
                if not words or words[0] != "@md":
                    out.append(line)
                    continue
                if len(words) not in (3, 4) or (len(words) == 4 and words[3] != "sub"):
                    raise RenderError(f"{template}:{n}: expected '@md FILE REGION [sub]'")
                path = os.path.join(base, words[1])
                body, first = region(path, words[2])
                out.extend(render(body, len(words) == 4, path, first))
    except (OSError, RenderError) as e:
        sys.exit(f"md2scd: {e}")
    sys.stdout.write("\n".join(out).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
