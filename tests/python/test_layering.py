#!/usr/bin/python3
"""The layering of src/ (docs/ARCHITECTURE.md, "Layers"), checked from the include lines.

A file in src/<subsystem>/ may include headers of subsystems in strictly lower layers only. The
registry runs its publish check through the model-kind interface (src/core/model_kind.h), so it
includes no kind; the kinds (src/kinds/<kind>/) sit above the libraries they wrap. Any edge to
the same or a higher layer fails the test (KNOWN_UPWARD is empty and must stay so).
"""
import os
import re
import sys

from checks import check, finish  # tests/python/checks.py

SRC = os.path.join(os.environ.get("MARQUEE_SOURCE_DIR",
                                  os.path.join(os.path.dirname(__file__), "..", "..")), "src")

LAYERS = {
    "common": 0,
    "client": 1,  # the HTTP API's C++ client: common and Boost only
    "data": 1, "models": 1, "events": 1, "core": 1,
    "dist": 1,  # dist: the MPI communicator (common/communicator.h is the interface)
    "eval": 2, "tabular": 2, "bandits": 2, "registry": 2,
    "kinds": 3, "state": 3,  # state: the online-state factory (RocksDB or Redis)
    "pipeline": 4,
    "experiments": 5, "jobs": 5, "tune": 5,
    "serving": 6, "flow": 6,  # flow: pipelines, above tune; talks to servers over HTTP
    "control": 7,
}

# Edges to the same or a higher layer. Issue #13 removed the last three (registry -> bandits,
# tabular, pipeline); a new one is a bug to fix, not to list.
KNOWN_UPWARD = set()

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
