#!/usr/bin/python3
"""Runs the SDK's pytest suite (tests/python/sdk) for ctest: exits 77 (skipped) when pytest,
numpy or pandas (Debian's python3-pytest, python3-numpy, python3-pandas) are not importable,
else pytest's exit status. Extra arguments go to pytest (e.g. -k tracking)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest
except ImportError as e:
    print(f"skip: {e.name} is not importable (scripts/setup installs it)")
    sys.exit(77)

# -p no:cacheprovider: the source tree stays clean; the SDK is imported from python/ (conftest).
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rfE", HERE, *sys.argv[1:]]))
