#!/usr/bin/python3
"""Runs the in-process bindings' pytest suite (tests/python/native) for ctest, on the package the
build tree holds (MARQUEE_PYTHON_BUILD: build/<preset>/python, with marquee._native beside links
to the SDK's sources). Exits 77 (skipped) when the module was not built (no pybind11-dev or
python3-dev at configure time) or pytest, numpy or pandas are not importable; else pytest's exit
status. Extra arguments go to pytest (e.g. -k ope)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

build = os.environ.get("MARQUEE_PYTHON_BUILD", "")
if not build:
    print("skip: marquee._native was not built (CMake found no pybind11-dev or python3-dev)")
    sys.exit(77)
try:
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest
except ImportError as e:
    print(f"skip: {e.name} is not importable (scripts/setup installs it)")
    sys.exit(77)

# -p no:cacheprovider: the source tree stays clean; conftest imports marquee from `build`.
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rfE", HERE, *sys.argv[1:]]))
