#!/usr/bin/python3
"""The layering of src/ (docs/ARCHITECTURE.md, "Layers"), checked from the include lines.

A file in src/<subsystem>/ may include headers of subsystems in strictly lower layers only.
Edges that break this today are listed in KNOWN_UPWARD. Issue #13 removes them: the registry
will run its publish check through the model-kind interface instead of including bandit,
tabular and pipeline code. The test fails on a new edge that breaks the layering. It also fails
when a listed edge is gone and still listed, so the list stays true.
"""
import os
import re
import sys

from checks import check, finish  # tests/python/checks.py

SRC = os.path.join(os.environ.get("MARQUEE_SOURCE_DIR",
                                  os.path.join(os.path.dirname(__file__), "..", "..")), "src")

LAYERS = {
    "common": 0,
    "data": 1, "models": 1, "events": 1,
    "eval": 2, "tabular": 2, "bandits": 2, "registry": 2,
    "pipeline": 3,
    "experiments": 4,
    "serving": 5,
}

# Edges to the same or a higher layer that exist today; issue #13 removes them.
KNOWN_UPWARD = {
    ("registry", "bandits"),   # publish check loads a bandit policy
    ("registry", "tabular"),   # publish check loads an XGBoost model
    ("registry", "pipeline"),  # publish check loads a model bundle
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def edges():
    """{(from, to): first 'file:line' that includes it} for every cross-subsystem include."""
    found = {}
    for sub in sorted(os.listdir(SRC)):
        root_dir = os.path.join(SRC, sub)
        if not os.path.isdir(root_dir):
            continue
        for root, _, files in os.walk(root_dir):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m and m.group(1) != sub and os.path.isdir(os.path.join(SRC, m.group(1))):
                            where = f"{os.path.relpath(path, SRC)}:{n}"
                            found.setdefault((sub, m.group(1)), where)
    return found


def main():
    subsystems = {d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d))}
    check(subsystems == set(LAYERS),
          f"every subsystem has a layer (unplaced: {sorted(subsystems - set(LAYERS))}, "
          f"gone: {sorted(set(LAYERS) - subsystems)})")
    found = edges()
    check(len(found) > 10, f"{len(found)} cross-subsystem include edges found (the scan works)")
    for (a, b), where in sorted(found.items()):
        if a not in LAYERS or b not in LAYERS:
            continue
        downward = LAYERS[b] < LAYERS[a]
        check(downward or (a, b) in KNOWN_UPWARD,
              f"{a} (layer {LAYERS[a]}) includes {b} (layer {LAYERS[b]}) at {where}")
    for a, b in sorted(KNOWN_UPWARD):
        check((a, b) in found, f"known upward edge {a} -> {b} still exists (else drop it from "
              "KNOWN_UPWARD)")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
