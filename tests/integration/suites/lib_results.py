#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# The suite output protocol, in one place: every Python suite prints its cases through one
# Results object, and tests/integration/run parses exactly these lines:
#   ok NAME [(note)]
#   FAIL NAME: problem; problem
#   skip NAME: why
#   suite-result: passed=N failed=M skipped=K        (the last line, from finish())
# Also the two ways a case is run: check(name, fn, *args) calls fn(problems, *args) (a list
# of problem strings, empty = ok; an exception = a failure; Skip = skipped), and TempDir, the
# one scratch directory of a suite. Not a suite (tests/integration/run skips lib_*).

import os
import shutil
import sys
import tempfile
import threading


class Skip(Exception):
    """Raised by a case whose prerequisite this machine lacks."""


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.lock = threading.RLock()  # held by a caller that prints more under a case

    def case(self, name, problems, note=""):
        with self.lock:
            if problems:
                self.failed += 1
                print(f"FAIL {name}: " + "; ".join(problems))
            else:
                self.passed += 1
                print(f"ok {name}{' (' + note + ')' if note else ''}")
            sys.stdout.flush()

    def skip(self, name, why):
        with self.lock:
            self.skipped += 1
            print(f"skip {name}: {why}")
            sys.stdout.flush()

    def check(self, name, fn, *args):
        """Runs fn(problems, *args) -> optional note; an exception is a failure of that case,
        Skip a skip. Returns True unless the case failed."""
        problems = []
        note = ""
        try:
            note = fn(problems, *args) or ""
        except Skip as e:
            self.skip(name, str(e))
            return True
        except Exception as e:  # a broken case is a failure, not a suite crash
            problems.append(f"{type(e).__name__}: {e}")
        self.case(name, problems, note)
        return not problems

    def finish(self):
        """Prints the suite-result line; returns the exit status: 1 on a failure, 77 when
        nothing passed, else 0."""
        print(f"suite-result: passed={self.passed} failed={self.failed} skipped={self.skipped}")
        sys.stdout.flush()
        if self.failed:
            return 1
        return 77 if self.passed == 0 else 0


def run_one(fn, *args):
    """(problems, note) of fn(problems, *args), for cases run on a thread pool and reported
    in order afterwards with Results.case."""
    problems = []
    try:
        note = fn(problems, *args) or ""
    except Exception as e:  # a broken case is a failure, not a suite crash
        problems.append(f"{type(e).__name__}: {e}")
        note = ""
    return problems, note


class TempDir:
    """A suite's scratch directory, removed on exit unless KEEP_ENV names a set variable.
    Under WORLD_DIR by default: short paths (a Unix socket path holds at most 107 bytes) and
    gone with the world. `with TempDir("dc.") as base:` or t = TempDir(...); ...; t.remove()."""

    def __init__(self, prefix, parent=None, mode=None, keep_env=None):
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent if parent is not None
                                     else os.environ.get("WORLD_DIR") or None)
        if mode is not None:
            os.chmod(self.path, mode)
        self.keep_env = keep_env

    def remove(self):
        if self.keep_env and os.environ.get(self.keep_env):
            print(f"# kept {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        self.remove()


if __name__ == "__main__":
    print("lib_results.py holds the output protocol, not cases", file=sys.stderr)
    print("suite-result: passed=0 failed=0 skipped=0")
