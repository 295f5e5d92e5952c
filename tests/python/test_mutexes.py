#!/usr/bin/python3
"""Every mutex is one Clang's thread-safety analysis checks (docs/ARCHITECTURE.md, Conventions).

src/common/mutex.h wraps std::mutex, std::shared_mutex and std::condition_variable in annotated
types (Mutex, SharedMutex, CondVar and their guards); members they guard are GUARDED_BY them and
the clang build (-Wthread-safety -Werror=thread-safety) proves each access holds the lock. A raw
standard mutex anywhere else escapes that proof, so this test fails when a file in src/, tools/ or
include/ names one (comments aside), outside src/common/mutex.h.

ALLOWED holds files allowed one (none today); it may only shrink: an entry whose file no longer
names one fails too.
"""
import os
import re
import sys

from checks import check, finish  # tests/python/checks.py

ROOT = os.environ.get("MARQUEE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCANNED = ("src", "tools", "include")
WRAPPER = "src/common/mutex.h"

# Files allowed a raw standard mutex or condition variable for now (see the docstring).
ALLOWED: set = set()

RAW = re.compile(r"\bstd::(?:recursive_timed_|recursive_|shared_timed_|timed_|shared_)?mutex\b|"
                 r"\bstd::condition_variable(?:_any)?\b")
# Comments and string literals, removed before matching (a comment may name std::mutex).
NOT_CODE = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.S)


def raw_uses(text):
    """[(line, match)] for each raw standard mutex type named in the code of `text`."""
    code = NOT_CODE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return [(code.count("\n", 0, m.start()) + 1, m.group(0)) for m in RAW.finditer(code)]


def scan():
    """{relative path: [(line, match)]} for every scanned source file naming a raw mutex type."""
    found = {}
    files = 0
    for top in SCANNED:
        for root, _, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if not name.endswith((".h", ".hpp", ".cc", ".cpp", ".inc")):
                    continue
                path = os.path.join(root, name)
                files += 1
                with open(path, encoding="utf-8") as f:
                    uses = raw_uses(f.read())
                if uses:
                    found[os.path.relpath(path, ROOT).replace(os.sep, "/")] = uses
    return files, found


def self_test():
    """The matcher finds what it must and skips comments and strings."""
    check([u for _, u in raw_uses("std::mutex mu_;\nstd::shared_mutex s;\n"
                                  "std::condition_variable_any cv;\nstd::recursive_mutex r;")] ==
          ["std::mutex", "std::shared_mutex", "std::condition_variable_any",
           "std::recursive_mutex"], "the matcher finds each raw mutex type")
    check(raw_uses("int a;\n// std::mutex in a comment\n/* std::mutex\n */ const char* s = "
                   "\"std::mutex\";\nstd::mutex m;") == [(5, "std::mutex")],
          "the matcher skips comments and strings and reports the right line")
    check(raw_uses("marquee::Mutex mu_; std::mutex_like x; mystd::mutex y;") == [],
          "the matcher ignores the wrappers and other names")


def main():
    self_test()
    files, found = scan()
    check(files > 100, f"{files} source files scanned under {', '.join(SCANNED)}")
    check(WRAPPER in found, f"{WRAPPER} (the wrappers) names the standard types: the scan works")
    for path, uses in sorted(found.items()):
        if path == WRAPPER:
            continue
        where = ", ".join(f"{path}:{line} {what}" for line, what in uses)
        if path in ALLOWED:
            check(True, f"allowed for now (ALLOWED): {where}")
            continue
        check(False, f"a raw standard mutex outside {WRAPPER} ({where}): use marquee::Mutex, "
              "SharedMutex or CondVar (common/mutex.h) and mark what it guards GUARDED_BY")
    for path in sorted(ALLOWED):
        check(path in found, f"allowed file {path} still names a raw mutex (else drop it from "
              "ALLOWED)")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
