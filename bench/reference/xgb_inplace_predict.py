#!/usr/bin/python3
"""Reference for bench/bench_xgb_predict.cc: python3-xgboost's Booster.inplace_predict.

  xgb_inplace_predict.py train UCI_Credit_Card.csv OUTDIR   trains the benchmark model on the
      UCI credit-card data (label Y, ID dropped, stratified 80/20 holdout, seed 98765) and writes
      OUTDIR/model.json, OUTDIR/rows.csv (the first 1,000 test rows, header = feature names),
      OUTDIR/test.csv (every test row) and OUTDIR/python_scores.json (inplace_predict on test.csv).
  xgb_inplace_predict.py time OUTDIR [NTHREAD]   times inplace_predict on 1 row and 1,000 rows of
      rows.csv with OUTDIR/model.json; prints one JSON object (microseconds per call).
"""
import json
import os
import sys
import time

import numpy as np
import xgboost as xgb

PARAMS = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.05, "subsample": 0.8,
          "min_child_weight": 5, "tree_method": "hist", "seed": 98765, "nthread": 2,
          "eval_metric": "auc"}
ROUNDS = 300


def load_uci(path):
    with open(path, newline="") as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    names = [h for h in header if h not in ("ID", "Y")]
    cols = [header.index(n) for n in names]
    return names, data[:, cols].astype(np.float32), data[:, header.index("Y")].astype(np.float32)


def stratified_split(y, test_fraction, seed):
    rng = np.random.default_rng(seed)
    test = []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        test.extend(idx[: int(round(test_fraction * len(idx)))])
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def write_csv(path, names, x):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in x:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def train(csv, out):
    os.makedirs(out, exist_ok=True)
    names, x, y = load_uci(csv)
    tr, te = stratified_split(y, 0.2, 98765)
    dtrain = xgb.DMatrix(x[tr], label=y[tr], feature_names=names)
    bst = xgb.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    bst.save_model(os.path.join(out, "model.json"))
    write_csv(os.path.join(out, "test.csv"), names, x[te])
    write_csv(os.path.join(out, "rows.csv"), names, x[te][:1000])
    scores = bst.inplace_predict(x[te]).astype(np.float64)
    y_te = y[te]
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    pos = y_te == 1
    auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
    del order
    with open(os.path.join(out, "python_scores.json"), "w") as f:
        json.dump({"scores": scores.tolist(), "auc": auc, "xgboost": xgb.__version__}, f)
    print(json.dumps({"model": os.path.join(out, "model.json"), "test_rows": len(te),
                      "auc": auc}))


def timed(fn, iters):
    for _ in range(min(50, iters)):
        fn()
    t = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        fn()
        t.append(time.perf_counter_ns() - t0)
    t = np.array(t) / 1000.0
    return {"iters": iters, "p50_us": float(np.median(t)), "p99_us": float(np.percentile(t, 99)),
            "mean_us": float(t.mean())}


def time_predict(out, nthread):
    bst = xgb.Booster(model_file=os.path.join(out, "model.json"))
    bst.set_param({"nthread": nthread})
    x = np.loadtxt(os.path.join(out, "rows.csv"), delimiter=",", skiprows=1, dtype=np.float32)
    one = np.ascontiguousarray(x[:1])
    res = {"impl": "python3-xgboost inplace_predict", "xgboost": xgb.__version__,
           "nthread": nthread,
           "rows_1": timed(lambda: bst.inplace_predict(one), 3000),
           "rows_1000": timed(lambda: bst.inplace_predict(x), 300)}
    print(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        time_predict(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
