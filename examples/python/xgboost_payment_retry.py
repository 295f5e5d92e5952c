#!/usr/bin/env python3
"""XGBoost trained in Python, tracked and registered in Marquee, promoted with a gate, and scored
through the server.

    python3 examples/python/xgboost_payment_retry.py http://127.0.0.1:8080   # or MARQUEE_URL

Data: UCI default of credit card clients (../shared/data/uci-credit-card-default, or
MARQUEE_SHARED_DATA) when present, else a synthetic payment-retry table. Needs numpy, pandas and
xgboost (Debian: python3-xgboost; scripts/setup's .venv sees them). Exits 1 if the server's
predictions differ from xgboost's own by more than 1e-6.
"""
import os
import sys
import tempfile

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # a checkout without .venv
import marquee  # noqa: E402

MODEL = os.environ.get("MARQUEE_MODEL", "payment-retry")


def load():
    """(features DataFrame, labels, dataset name): UCI credit default, or synthetic."""
    shared = os.environ.get("MARQUEE_SHARED_DATA",
                            os.path.join(HERE, "..", "..", "..", "shared", "data"))
    path = os.path.join(shared, "uci-credit-card-default", "UCI_Credit_Card.csv")
    if os.path.exists(path):
        df = pd.read_csv(path)
        return df.drop(columns=["ID", "Y"]).astype(float), df["Y"].to_numpy(float), "uci-credit"
    rng = np.random.default_rng(7)
    n = 20000
    X = pd.DataFrame({"amount": rng.lognormal(4, 1, n), "attempt": rng.integers(1, 6, n),
                      "days_since_fail": rng.exponential(3, n), "card_age": rng.uniform(0, 60, n)})
    logit = -1 + 0.4 * np.log(X["amount"]) - 0.5 * X["attempt"] - 0.2 * X["days_since_fail"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return X.astype(float), y, "synthetic-payments"


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MARQUEE_URL")
    client = marquee.Client(url)
    X, y, dataset = load()
    rng = np.random.default_rng(98765)
    test = rng.random(len(y)) < 0.2
    names = [str(c) for c in X.columns]
    dtrain = xgb.DMatrix(X[~test], label=y[~test], feature_names=names)
    dtest = xgb.DMatrix(X[test], label=y[test], feature_names=names)
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "subsample": 0.8,
              "eval_metric": ["logloss", "auc"], "seed": 1}

    # 1. Train and track: per-round test metrics with a step, the final AUC as the run's metric.
    with client.start_run(model=MODEL, params=dict(params, num_round=150), dataset=dataset,
                          family="xgboost", tags={"source": "examples/python"}) as run:
        history = {}
        booster = xgb.train(params, dtrain, 150, evals=[(dtest, "test")], evals_result=history,
                            verbose_eval=False)
        for step, (ll, auc) in enumerate(zip(history["test"]["logloss"], history["test"]["auc"])):
            run.log_metrics({"test_logloss": ll, "test_auc": auc}, step=step)
        run.log_metric("auc", history["test"]["auc"][-1])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.json")
            booster.save_model(path)
            # 2. Register: the saved JSON is uploaded as an artifact and becomes a version.
            version = run.register_model(path, family="xgboost")
    print(f"run {run.id}: auc {history['test']['auc'][-1]:.4f}; registered {version['ref']}")

    # 3. Promote behind a gate: at least as good as production (or AUC >= 0.7 for the first).
    aliases = client.model(MODEL).get("aliases", {})
    gate = "auc>=production" if "production" in aliases else "auc>=0.7"
    try:
        moved = client.promote(MODEL, version["version"], alias="production", require=gate)
        print(f"promoted {MODEL} v{moved['to_version']} to production (gate {gate})")
    except marquee.FailedPrecondition as e:
        print(f"not promoted: {e.message}")

    # 4. Score through the server, and check against xgboost's own predictions.
    ref = f"{MODEL}/{version['version']}"
    sample = X[test].head(1000)
    served = client.predict(ref, sample)
    local = booster.predict(xgb.DMatrix(sample, feature_names=names))
    diff = float(np.max(np.abs(served - local)))
    print(f"{len(sample)} predictions through {client.url}: max |server - xgboost| = {diff:.2e}")
    explained = client.predict(ref, sample.head(1), explain=True)[0]
    top = sorted(explained["contributions"].items(), key=lambda kv: -abs(kv[1]))[:3]
    print("strongest SHAP contributions of the first row: "
          + ", ".join(f"{k} {v:+.3f}" for k, v in top))
    return 0 if diff <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
