"""marquee.Home / Model / train / ope in-process (marquee._native) against the server and the CLI
on the same home: the same items and scores as /v1/recommend and /v1/recommend/batch, the same
runs as `marquee train`, the same estimates as `marquee ope --json`, and typed errors."""
import json
import os
import random
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import marquee
from conftest import BUILD, cli

MODEL = "recs@production"


def random_histories(items, n, seed):
    """n histories of 0..15 distinct item ids (a few empty: the popularity fallback)."""
    rng = random.Random(seed)
    return [rng.sample(items, rng.randint(0, 15)) for _ in range(n)]


def assert_same_answer(items, scores, answer):
    """One in-process row (padding: None / NaN) equals one /v1/recommend answer."""
    got = [(i, s) for i, s in zip(items, scores) if i is not None]
    want = [(it["id"], it["score"]) for it in answer["items"]]
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=1e-6)
    assert all(np.isnan(s) for i, s in zip(items, scores) if i is None)


def test_recommend_equals_server(model, client):
    items = list(model.items)
    assert len(items) == 120 and model.info["name"] == "recs" and model.info["version"] == 1
    for h in random_histories(items, 40, seed=1):
        for exclude_seen in (True, False):
            r = model.recommend(h, k=10, exclude_seen=exclude_seen)
            assert isinstance(r.items, np.ndarray) and r.scores.dtype == np.float32
            want = client.recommend(MODEL, history=h, k=10, exclude_seen=exclude_seen)
            assert_same_answer(r.items, r.scores, want)
            assert len(r.items) == len(want["items"])
    # A known user (their training row; this server has no events for them) and a numpy history.
    r = model.recommend(user="u7", k=20)
    assert_same_answer(r.items, r.scores, client.recommend(MODEL, user="u7", k=20))
    h = np.array(items[:5])
    r = model.recommend(h, k=5, user="u7")
    assert_same_answer(r.items, r.scores,
                       client.recommend(MODEL, user="u7", history=list(h), k=5))


def test_score_of_1000_histories_equals_the_batch_route(model, client):
    histories = random_histories(list(model.items), 1000, seed=2)
    s = model.score(histories, k=10)
    assert s.items.shape == (1000, 10) and s.scores.shape == (1000, 10)
    answers = client.recommend_batch([{"model": MODEL, "history": h, "k": 10}
                                      for h in histories])
    assert len(answers) == 1000
    for q in range(1000):
        assert_same_answer(s.items[q], s.scores[q], answers[q])
    # The batch is cut into chunks over threads; one thread ranks it the same.
    one = model.score(histories, k=10, threads=1)
    assert (one.items == s.items).all()
    assert np.array_equal(one.scores, s.scores, equal_nan=True)


def test_score_takes_numpy_rows_and_python_threads(model):
    items = list(model.items)
    rows = [items[i:i + 4] for i in range(0, 40, 4)]
    want = model.score(rows, k=7)
    got = model.score(np.array(rows), k=7)  # a 2-D array of str: one row per history
    assert (got.items == want.items).all() and np.array_equal(got.scores, want.scores)
    # Integer ids (numpy's too) are the ids as text, as the server reads them: "3" is not "i3".
    with pytest.raises(marquee.NotFound, match=r"row 1: history\[0\]: unknown item '3'"):
        model.score([["i1"], np.array([3, 4], dtype=np.int64)], k=7)
    # Several Python threads at once (the GIL is released while ranking): the same answers.
    histories = random_histories(items, 300, seed=5)
    serial = model.score(histories, k=10)
    results = [None] * 4

    def work(t):
        results[t] = model.score(histories, k=10, threads=2)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert (r.items == serial.items).all()
        assert np.array_equal(r.scores, serial.scores, equal_nan=True)


def test_score_with_users(model, client):
    users = [f"u{i}" for i in range(1, 200, 7)]
    s = model.score([None] * len(users), users=users, k=5)
    for q, u in enumerate(users):
        assert_same_answer(s.items[q], s.scores[q], client.recommend(MODEL, user=u, k=5))


def test_errors_are_typed(home, model):
    with pytest.raises(marquee.NotFound, match="nope"):
        marquee.Home(home).model("nope@production")
    with pytest.raises(marquee.NotFound, match="alias"):
        marquee.Home(home).model("recs@staging")
    with pytest.raises(marquee.InvalidArgument, match="not a model reference"):
        marquee.Home(home).model("recs@@x")
    with pytest.raises(marquee.InvalidArgument, match="not a recommender"):
        marquee.Home(home).model("artwork@production")
    with pytest.raises(marquee.NotFound, match="no Marquee home"):
        marquee.Home(os.path.join(home, "missing"))
    with pytest.raises(marquee.InvalidArgument, match=r"history\[0\]: must be an item id"):
        model.recommend(np.array([1.5, 2.5]), k=5)  # a float array: the wrong dtype
    with pytest.raises(marquee.InvalidArgument, match="sequence of item ids"):
        model.recommend("i1", k=5)
    for k in (0, -3):
        with pytest.raises(marquee.InvalidArgument, match="k: "):
            model.recommend(["i1"], k=k)
    with pytest.raises(marquee.InvalidArgument, match="k: must be an integer"):
        model.recommend(["i1"], k=2.0)
    with pytest.raises(marquee.NotFound, match=r"row 2: history\[0\]: unknown item 'zz'"):
        model.score([["i1"], ["i2"], ["zz"]])
    with pytest.raises(marquee.NotFound, match="unknown user 'nobody'"):
        model.recommend(user="nobody")
    with pytest.raises(marquee.InvalidArgument, match="one each per row"):
        model.score([["i1"]], users=["u1", "u2"])


def test_train_registers_a_run_and_a_version(home, tmp_root):
    config = {"data": {"dataset": "shop"},
              "split": {"protocol": "strong-generalization", "test_users": 30, "seed": 1},
              "model": {"family": "ease", "name": "recs-py", "lambda": 200.0},
              "eval": {"metrics": ["recall@20"]}}
    out = marquee.train(config, home=home)
    assert out["model"] == "recs-py" and out["version"] == 1 and out["run_id"] > 0
    runs = json.loads(cli(home, "runs", "list", "--model", "recs-py", "--json"))["runs"]
    assert [r["id"] for r in runs] == [out["run_id"]]
    assert runs[0]["metrics"]["recall@20"] == pytest.approx(out["metrics"]["recall@20"])
    # A TOML file with an override, through a Home: version 2, lambda as overridden.
    path = os.path.join(tmp_root, "recs-py.toml")
    with open(path, "w") as f:
        f.write("[data]\ndataset = \"shop\"\n[model]\nfamily = \"ease\"\nlambda = 50.0\n")
    out2 = marquee.Home(home).train(path, set=["model.lambda=75"])
    assert out2["model"] == "recs-py" and out2["version"] == 2  # named after the file's stem
    show = json.loads(cli(home, "runs", "show", str(out2["run_id"]), "--json"))
    assert show["params"]["lambda"] == 75.0
    # A Model keeps its version; Home.model follows the alias when asked again.
    h = marquee.Home(home)
    cli(home, "models", "promote", "recs-py", "1", "--alias", "production")
    v1 = h.model("recs-py@production")
    cli(home, "models", "promote", "recs-py", "2", "--alias", "production")
    assert h.model("recs-py@production").info["version"] == 2
    assert v1.info["version"] == 1 and len(v1.recommend(["i1"], k=3).items) == 3
    with pytest.raises(marquee.InvalidArgument, match="unknown section"):
        marquee.train({"nope": {}, "model": {"family": "ease"}}, home=home)
    with pytest.raises(marquee.NotFound, match="does not exist"):
        marquee.train(os.path.join(tmp_root, "missing.toml"), home=home)


BOOTSTRAP = 20  # resamples: enough to compare intervals, few enough to be quick


def cli_ope(home, *args):
    return json.loads(cli(home, "ope", "--estimators", "ips,snips,dr", "--bootstrap",
                          str(BOOTSTRAP), "--json", *args))


def ope(log, policy=None, **kw):
    return marquee.ope(log, policy, bootstrap=BOOTSTRAP, **kw)


def same_estimates(got, want):
    assert got["estimator_order"] == want["estimator_order"] == ["ips", "snips", "dr"]
    for e in want["estimator_order"]:
        assert got["estimates"][e]["value"] == pytest.approx(want["estimates"][e]["value"],
                                                             rel=1e-12, abs=1e-12)
        assert got["estimates"][e]["ci"] == pytest.approx(want["estimates"][e]["ci"], rel=1e-12,
                                                          abs=1e-12)
    for key in ("n", "ess", "logged_reward", "max_weight", "reward_model"):
        assert got[key] == pytest.approx(want[key]), key


def test_ope_equals_the_cli(home, bandit_rows):
    want = cli_ope(home, "--log", "artlog", "--policy", "artwork@production")
    # The log by name: everything the CLI prints but its timing.
    by_name = ope("artlog", "artwork@production", home=home, frame=False)
    same_estimates(by_name, want)
    assert by_name["warnings"] == want["warnings"] and by_name["candidate"] == want["candidate"]
    # The same decisions as a DataFrame, and as the DataFrame-shaped result.
    df = pd.DataFrame(bandit_rows["artlog"])
    same_estimates(ope(df, "artwork@production", home=home, frame=False), want)
    table = ope(df, "artwork@production", home=home)
    assert list(table.index) == ["ips", "snips", "dr"]
    assert table.loc["dr", "value"] == pytest.approx(want["estimates"]["dr"]["value"], rel=1e-12)
    assert table.loc["ips", "ci_low"] <= table.loc["ips", "value"] <= table.loc["ips", "ci_high"]
    assert table.attrs["n"] == want["n"] == 300
    # Another logged policy as the candidate: a dataset name or its rows.
    want = cli_ope(home, "--log", "artlog", "--policy-from-log", "artlog2")
    same_estimates(ope("artlog", policy_from_log="artlog2", home=home, frame=False), want)
    same_estimates(ope(bandit_rows["artlog"], pd.DataFrame(bandit_rows["artlog2"]), home=home,
                       frame=False), want)


def test_ope_errors(home, bandit_rows):
    with pytest.raises(marquee.InvalidArgument, match="unknown estimator 'nope'"):
        ope("artlog", "artwork@production", estimators=["ips", "nope"], home=home)
    with pytest.raises(marquee.InvalidArgument, match="not a bandit policy"):
        ope("artlog", "recs@production", home=home)
    with pytest.raises(marquee.NotFound):
        ope("no-such-log", "artwork@production", home=home)
    with pytest.raises(marquee.InvalidArgument, match="exactly one"):
        ope("artlog", home=home)
    bad = [dict(r) for r in bandit_rows["artlog"][:5]]
    bad[3]["probability"] = 0.0
    with pytest.raises(marquee.InvalidArgument, match="probability|propensity"):
        ope(bad, "artwork@production", home=home)


def test_without_the_native_module_import_still_works(tmp_root):
    """The SDK's sources alone (no _native beside them): import works, Home raises a clear,
    typed error that is also an ImportError."""
    src = os.path.realpath(os.path.join(BUILD, "marquee", "__init__.py"))
    code = ("import marquee\n"
            "try:\n"
            "    marquee.Home('.')\n"
            "except marquee.NativeUnavailable as e:\n"
            "    assert isinstance(e, ImportError) and isinstance(e, marquee.Unavailable)\n"
            "    print(e.code, e.message)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(src))},
                       cwd=tmp_root, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("unavailable ") and "scripts/setup" in r.stdout
