#!/usr/bin/python3
"""Parity of Marquee's XGBoost serving with python3-xgboost (skipped, exit 77, without
../shared/data or python3-xgboost).

1. A model trained with python3-xgboost on UCI credit-card default (stratified 80/20 holdout),
   saved to JSON and to UBJSON, imported with `marquee models import`, promoted, and scored
   with `marquee predict` gives python's inplace_predict scores to 1e-6 on every test row.
2. `--explain` contributions equal python's pred_contribs to 1e-5 and sum to the margin.
3. `marquee train` on the same file reaches AUC >= 0.77 on the stratified 80/20 holdout.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from checks import check, finish  # tests/python/checks.py

BIN = os.environ["MARQUEE_BIN"]
SRC = os.environ["MARQUEE_SOURCE_DIR"]
DATA = os.path.join(os.environ["MARQUEE_SHARED_DATA"], "uci-credit-card-default",
                    "UCI_Credit_Card.csv")




def marquee(home, *args):
    r = subprocess.run([BIN, "--home", home, "-q", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"marquee {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def main():
    if not os.path.exists(DATA):
        print(f"skip: {DATA} is absent (set MARQUEE_SHARED_DATA)")
        return 77
    try:
        import numpy as np
        import xgboost as xgb
    except ImportError as e:
        print(f"skip: python3-xgboost is not installed ({e})")
        return 77
    sys.path.insert(0, os.path.join(SRC, "bench", "reference"))
    import xgb_inplace_predict as ref

    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        names, x, y = ref.load_uci(DATA)
        tr, te = ref.stratified_split(y, 0.2, 98765)
        params = dict(ref.PARAMS)
        bst = xgb.train(params, xgb.DMatrix(x[tr], label=y[tr], feature_names=names),
                        num_boost_round=120)
        want = bst.inplace_predict(x[te]).astype(np.float64)
        test_csv = os.path.join(tmp, "test.csv")
        ref.write_csv(test_csv, names, x[te])

        for fmt in ("json", "ubj"):
            path = os.path.join(tmp, f"model.{fmt}")
            bst.save_model(path)
            imp = marquee(home, "models", "import", path, "--name", f"parity-{fmt}", "--family",
                          "xgboost", "--json")
            check(imp["model"] == f"parity-{fmt}" and imp["version"] == 1,
                  f"models import ({fmt}) --json -> {imp['model']} v{imp['version']}")
            subprocess.run([BIN, "--home", home, "-q", "models", "promote", f"parity-{fmt}", "1",
                            "--alias", "production"], check=True, capture_output=True)
            out = marquee(home, "predict", f"parity-{fmt}@production", "--input", test_csv)
            got = np.array([p["score"] for p in out["predictions"]])
            check(len(got) == len(want), f"{fmt}: {len(got)} predictions for {len(want)} rows")
            diff = float(np.max(np.abs(got - want)))
            check(diff <= 1e-6, f"{fmt}: max |marquee - inplace_predict| = {diff:.3g} <= 1e-6 "
                                f"on all {len(want)} test rows")

        # Contributions on 200 rows, compared with python's pred_contribs.
        few = os.path.join(tmp, "few.csv")
        ref.write_csv(few, names, x[te][:200])
        out = marquee(home, "predict", "parity-json/1", "--input", few, "--explain")
        contribs = bst.predict(xgb.DMatrix(x[te][:200], feature_names=names), pred_contribs=True)
        margin = bst.predict(xgb.DMatrix(x[te][:200], feature_names=names), output_margin=True)
        worst_c, worst_sum = 0.0, 0.0
        for i, p in enumerate(out["predictions"]):
            c = np.array([p["contributions"][n] for n in names] + [p["bias"]])
            worst_c = max(worst_c, float(np.max(np.abs(c - contribs[i]))))
            worst_sum = max(worst_sum, abs(float(c.sum()) - float(margin[i])))
        check(worst_c <= 1e-5, f"explain: max |contribution - pred_contribs| = {worst_c:.3g}")
        check(worst_sum <= 1e-4, f"explain: contributions sum to the margin (max err "
                                 f"{worst_sum:.3g})")

        # The same model through HTTP: marquee serve, POST /v1/predict with every test row.
        port_file = os.path.join(tmp, "port")
        server = subprocess.Popen([BIN, "--home", home, "-q", "serve", "--port", "0",
                                   "--port-file", port_file], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        try:
            for _ in range(200):
                if os.path.exists(port_file) or server.poll() is not None:
                    break
                time.sleep(0.05)
            check(os.path.exists(port_file), "marquee serve started")
            port = int(open(port_file).read())
            rows = [{n: float(v) for n, v in zip(names, row)} for row in x[te]]
            got = []
            for start in range(0, len(rows), 500):
                body = json.dumps({"model": "parity-json@production",
                                   "rows": rows[start:start + 500]}).encode()
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    reply = json.loads(resp.read())
                got += [p["score"] for p in reply["predictions"]]
            got = np.array(got)
            diff = float(np.max(np.abs(got - want))) if len(got) == len(want) else float("inf")
            check(diff <= 1e-6, f"/v1/predict: max |marquee - inplace_predict| = {diff:.3g} <= "
                                f"1e-6 on all {len(want)} test rows")
            bad = json.dumps({"model": "parity-json@production",
                              "rows": [{"NOT_A_FEATURE": 1}]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=bad)
            try:
                urllib.request.urlopen(req, timeout=30)
                check(False, "/v1/predict with an unknown feature is refused")
            except urllib.error.HTTPError as e:
                msg = json.loads(e.read())["error"]["message"]
                check(e.code == 400 and "NOT_A_FEATURE" in msg,
                      f"/v1/predict unknown feature -> {e.code}: {msg}")
        finally:
            server.terminate()
            server.wait(timeout=30)

        # marquee train on the same data and split protocol.
        cfg = os.path.join(tmp, "uci.toml")
        with open(cfg, "w") as f:
            f.write(open(os.path.join(SRC, "examples", "uci-credit-xgboost.toml")).read()
                    .replace("../../shared/data/uci-credit-card-default/UCI_Credit_Card.csv",
                             DATA))
        r = marquee(home, "train", cfg, "--json", "--set", "split.refit=false")
        check(r["metrics"]["auc"] >= 0.77, f"marquee train: holdout AUC {r['metrics']['auc']:.4f}"
                                           f" >= 0.77")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
