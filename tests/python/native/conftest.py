"""Fixtures of the in-process bindings' tests: one scratch home, prepared with the CLI, and a real
`marquee serve` on it, to compare with.

The home holds a synthetic dataset "shop", recommender "recs" (EASE, recs@production = 1), two
synthetic bandit logs "artlog" and "artlog2" and an epsilon-greedy policy "artwork"
(artwork@production = 1), made with the configs and helpers of the SDK's tests
(tests/python/sdk/conftest.py). The server serves recs@production and artwork@production.

The package under test is the build tree's (MARQUEE_PYTHON_BUILD, set by ctest): marquee with
marquee._native beside it, not an installed copy.
"""
import importlib.util
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MARQUEE_PYTHON_BUILD", "")
sys.path.insert(0, BUILD)

import marquee  # noqa: E402
import marquee._native  # noqa: E402,F401  (ctest runs this suite only when it was built)

assert os.path.dirname(marquee.__file__) == os.path.join(BUILD, "marquee"), marquee.__file__

# The SDK tests' helpers (cli, Server, write_bandit_log, the configs), under their own name.
_spec = importlib.util.spec_from_file_location(
    "sdk_helpers", os.path.join(HERE, "..", "sdk", "conftest.py"))
sdk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sdk)
cli = sdk.cli
# Fixtures of the SDK tests reused as they are: a scratch directory, a Client of `server` below.
tmp_root = sdk.tmp_root
client = sdk.client


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def home(tmp_root):
    """The home's path, with everything the module docstring lists."""
    h = os.path.join(tmp_root, "home")
    cli(h, "dataset", "generate", "--name", "shop", "--users", "300", "--items", "120",
        "--interactions", "6000")
    cli(h, "train", _write(os.path.join(tmp_root, "recs.toml"), sdk.RECS_TOML.format(lam=100)))
    cli(h, "models", "promote", "recs", "1", "--alias", "production")
    for name, seed in (("artlog", 3), ("artlog2", 11)):
        log = os.path.join(tmp_root, f"{name}.jsonl")
        sdk.write_bandit_log(log, seed=seed)
        cli(h, "dataset", "import", log, "--format", "bandit-jsonl", "--name", name)
    cli(h, "train", _write(os.path.join(tmp_root, "artwork.toml"), sdk.BANDIT_TOML))
    cli(h, "models", "promote", "artwork", "1", "--alias", "production")
    return h


@pytest.fixture(scope="session")
def server(home, tmp_root):
    srv = sdk.Server(home, tmp_root, "--model", "recs@production", "--bandit",
                     "artwork@production")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def model(home):
    return marquee.Home(home).model("recs@production")


@pytest.fixture(scope="session")
def bandit_rows(tmp_root, home):
    """The decisions of artlog and artlog2 as the dicts their JSONL files hold."""
    return {name: read_jsonl(os.path.join(tmp_root, f"{name}.jsonl"))
            for name in ("artlog", "artlog2")}
