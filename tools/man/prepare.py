#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turn one of tlspolicy's Markdown documents into go-md2man input (stdout).

The Markdown pages under docs/ stay the one source of the manual: they read well on their
own, and the build makes roff of them (docs/CMakeLists.txt: this script, then go-md2man).

  prepare.py PAGE.md --title NAME(SECTION) --version VERSION
             [--name-line "NAME - what" --synopsis TEXT]

What changes on the way:
  - the first heading becomes go-md2man's title line (.TH NAME SECTION "" "tlspolicy V" MANUAL);
    with --name-line, NAME, SYNOPSIS (--synopsis) and DESCRIPTION headings follow it, for a
    document that is not written as a manual page (docs/configuration.md);
  - an HTML comment line (the SPDX tag) is dropped;
  - the em dash of the NAME line becomes " - ", which whatis(1) and mandb read;
  - a table becomes a list, one item per row: man(1) cannot fold a wide table's cells;
    a settings table ("setting | type | default | meaning") becomes
    "- `name` (type; default `x`): meaning";
  - a link [text](target) to another document of the repository becomes its text.
"""
import argparse
import re
import sys

MANUALS = {"1": "User Commands", "5": "File Formats Manual", "8": "System Manager's Manual"}


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_to_list(rows):
    header, body = cells(rows[0]), [cells(r) for r in rows[2:]]
    out = []
    for row in body:
        if [h.lower() for h in header] == ["setting", "type", "default", "meaning"]:
            name, typ, default, meaning = row
            out.append(f"- {name} ({typ}; default {default}): {meaning}")
        else:
            rest = "; ".join(f"{h}: {c}" for h, c in zip(header[1:], row[1:]) if c)
            out.append(f"- {row[0]}: {rest}" if rest else f"- {row[0]}")
    return out


def prepare(text, title, version, name_line, synopsis):
    m = re.fullmatch(r"(.+)\((\d)\)", title)
    if not m:
        sys.exit(f"prepare.py: --title must be NAME(SECTION), got {title!r}")
    name, section = m.groups()
    lines = text.splitlines()
    out, i, in_code, seen_title, in_name = [], 0, False, False, False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_code = not in_code
        if in_code or line.startswith("```"):
            out.append(line)
            i += 1
            continue
        if re.fullmatch(r"\s*<!--.*-->\s*", line):
            i += 1
            continue
        if not seen_title and line.startswith("# "):
            seen_title = True
            manual = MANUALS.get(section, "")
            out.append(f'# {name.upper()} {section} "" "tlspolicy {version}" "{manual}"')
            if name_line:
                out += ["", "## NAME", "", name_line, "", "## SYNOPSIS", "", synopsis or "",
                        "", "## DESCRIPTION"]
            i += 1
            continue
        if line.startswith("## "):
            in_name = line.strip() == "## NAME"
        elif in_name and " — " in line:
            line = line.replace(" — ", " - ", 1)
        if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|[-:| ]+\|?", lines[i + 1].strip()):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += table_to_list(rows)
            continue
        out.append(re.sub(r"\[([^\]]+)\]\((?!https?:)[^)]+\)", r"\1", line))
        i += 1
    if not seen_title:
        sys.exit("prepare.py: the page has no title heading")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--title", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--name-line")
    ap.add_argument("--synopsis")
    a = ap.parse_args()
    with open(a.page, encoding="utf-8") as f:
        sys.stdout.write(prepare(f.read(), a.title, a.version, a.name_line, a.synopsis))


if __name__ == "__main__":
    main()
