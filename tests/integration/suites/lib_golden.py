#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Golden files: a long, stable output compared as a whole with a file under
# tests/integration/golden/. The caller normalises first (dates, report ids, ports, paths:
# whatever varies between runs of the same world), so the file holds only what the world's
# construction decides. On a mismatch the case fails with a unified diff (golden file first).
#
#   problems += golden("tlsrpt/report-enforce.json", text)       # text: normalised output
#
# TLSPOLICY_UPDATE_GOLDEN=1 rewrites the file with the output instead (the case then passes
# and says so). A rewritten file is an oracle only once it is read and every value checked
# against the world's definition (lib.sh, env/zones, env/policies): docs/testing.md.
# Not a suite (tests/integration/run skips lib_*).

import difflib
import json
import os
import re
import sys

from lib_world import INTEGRATION

GOLDEN_DIR = os.path.join(INTEGRATION, "golden")
UPDATE = os.environ.get("TLSPOLICY_UPDATE_GOLDEN") == "1"


def golden(name, text):
    """Problems (a list: empty when `text` equals the file `name` under golden/). With
    TLSPOLICY_UPDATE_GOLDEN=1 the file is written and nothing is a problem."""
    path = os.path.join(GOLDEN_DIR, name)
    if not text.endswith("\n"):
        text += "\n"
    if UPDATE:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"# golden: wrote {os.path.relpath(path, INTEGRATION)}")
        return []
    try:
        with open(path, encoding="utf-8") as f:
            want = f.read()
    except FileNotFoundError:
        return [f"no golden file {os.path.relpath(path, INTEGRATION)} (TLSPOLICY_UPDATE_GOLDEN=1 "
                "writes it; then check it against the world)"]
    if want == text:
        return []
    diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                        f"golden/{name}", "got"))
    print(f"# golden/{name} differs:\n{diff}", end="" if diff.endswith("\n") else "\n")
    sys.stdout.flush()
    return [f"output differs from golden/{name} (diff above; TLSPOLICY_UPDATE_GOLDEN=1 "
            "rewrites it)"]


def json_text(obj):
    """The stable text form of a JSON value: sorted keys, two-space indent."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)


def replace_all(text, pairs):
    """Each (regular expression, replacement) in turn: the normalisation of a golden output."""
    for pattern, repl in pairs:
        text = re.sub(pattern, repl, text, flags=re.M)
    return text


if __name__ == "__main__":
    print("lib_golden.py compares outputs with golden files, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
