"""The examples in examples/python run against the session's server and print what they say."""
import os

import pytest
import subprocess
import sys

from conftest import SRC


def run_example(name, server, tmp_path):
    env = dict(os.environ, MARQUEE_URL="")
    shared = os.environ.get("MARQUEE_SHARED_DATA")
    if shared:
        env["MARQUEE_SHARED_DATA"] = shared
    return subprocess.run([sys.executable, os.path.join(SRC, "examples", "python", name),
                           server.url], capture_output=True, text=True, timeout=600, env=env,
                          cwd=tmp_path)


def test_xgboost_payment_retry(server, tmp_path):
    r = run_example("xgboost_payment_retry.py", server, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "registered payment-retry/1" in r.stdout
    assert "promoted payment-retry v1 to production (gate auc>=0.7)" in r.stdout
    assert "max |server - xgboost|" in r.stdout


def test_recommender_walkthrough(server, tmp_path):
    r = run_example("recommender_walkthrough.py", server, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dataset ml100k:" in r.stdout
    assert "production: vNone -> v" in r.stdout
    assert r.stdout.count("top 5 ") == 2
