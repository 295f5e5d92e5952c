"""XGBoost trained in Python (python3-xgboost) -> saved JSON -> run.register_model -> promote
with a gate on a logged metric (a failing gate raises FailedPrecondition) -> client.predict,
equal to booster.predict to 1e-6 (NaN features sent as missing)."""
import numpy as np
import pandas as pd
import pytest

import marquee

xgb = pytest.importorskip("xgboost", reason="python3-xgboost is needed for the round trip")

FEATURES = ["amount", "age", "tenure", "retries", "score"]


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values, XGBoost's default branch
    return pd.DataFrame(X, columns=FEATURES), y


def auc(y, p):
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def train_and_track(client, tmp_path, name, rounds, depth, seed):
    X, y = synthetic(1500, seed)
    Xtr, ytr, Xte, yte = X[:1000], y[:1000], X[1000:], y[1000:]
    dtr = xgb.DMatrix(Xtr, label=ytr, feature_names=FEATURES)
    dte = xgb.DMatrix(Xte, label=yte, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1,
              "eval_metric": "auc", "seed": 1}
    with client.start_run(model=name, params=dict(params, rounds=rounds),
                          family="xgboost") as run:
        evals = {}
        booster = xgb.train(params, dtr, rounds, evals=[(dte, "test")], evals_result=evals,
                            verbose_eval=False)
        for step, v in enumerate(evals["test"]["auc"]):
            run.log_metric("test_auc", v, step=step)
        run.log_metric("auc", auc(yte, booster.predict(dte)))
        path = tmp_path / f"{name}-{rounds}.json"
        booster.save_model(str(path))
        version = run.register_model(str(path), family="xgboost")
    return booster, version, Xte, run


def test_register_promote_gate_predict(client, tmp_path):
    name = "sdk-payment"
    good, v1, Xte, run1 = train_and_track(client, tmp_path, name, rounds=60, depth=4, seed=5)
    assert v1["model"] == name and v1["version"] == 1 and v1["run_id"] == run1.id
    assert v1["metrics"]["auc"] > 0.7
    p = client.promote(name, 1, alias="production", require="auc>=0.7")
    assert p["to_version"] == 1 and p["alias"] == "production"

    weak, v2, _, _ = train_and_track(client, tmp_path, name, rounds=1, depth=1, seed=5)
    assert v2["version"] == 2 and v2["metrics"]["auc"] < v1["metrics"]["auc"]
    with pytest.raises(marquee.FailedPrecondition) as e:
        client.promote(name, 2, alias="production", require="auc>=production")
    assert "auc" in e.value.message
    assert client.model(name)["aliases"]["production"] == 1, "a refused promotion moves nothing"

    got = client.predict(f"{name}@production", Xte)
    want = good.predict(xgb.DMatrix(Xte, feature_names=FEATURES))
    assert isinstance(got, np.ndarray) and got.shape == want.shape
    assert np.max(np.abs(got - want)) < 1e-6
    rows = Xte.head(3).to_dict("records")  # list of dicts, NaN included
    assert np.max(np.abs(client.predict(f"{name}/2", rows) -
                         weak.predict(xgb.DMatrix(Xte.head(3), feature_names=FEATURES)))) < 1e-6

    explained = client.predict(f"{name}@production", Xte.head(5), explain=True)
    margins = good.predict(xgb.DMatrix(Xte.head(5), feature_names=FEATURES), output_margin=True)
    for e, m in zip(explained, margins):
        assert abs(e["bias"] + sum(e["contributions"].values()) - e["margin"]) < 1e-4
        assert abs(e["margin"] - m) < 1e-5


def test_predict_errors_name_the_problem(client):
    with pytest.raises(marquee.NotFound):
        client.predict("no-such-tabular@production", [{"amount": 1.0}])
    with pytest.raises(marquee.InvalidArgument):
        client.predict("recs@production", [{"amount": 1.0}])  # not a tabular model
    with pytest.raises(marquee.InvalidArgument):
        client.predict("recs@production", [1.0, 2.0])
