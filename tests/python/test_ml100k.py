#!/usr/bin/python3
"""End-to-end checks on MovieLens-100K (skipped, exit 77, when ../shared/data is absent).

1. The issue's EASE config (strong generalization, 150 users, 80% fold-in, seed 98765)
   reaches recall@20 >= 0.40 and ndcg@100 >= 0.45.
2. On a split given as files (protocol "given"), popularity's and EASE's metrics equal an
   independent numpy implementation (bench/reference/numpy_recsys.py) to 3 decimals.
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ["MARQUEE_BIN"]
SRC = os.environ["MARQUEE_SOURCE_DIR"]
DATA = os.path.join(os.environ["MARQUEE_SHARED_DATA"], "movielens-100k", "u.data")
REF = os.path.join(SRC, "bench", "reference")
METRICS = ["recall@20", "recall@50", "ndcg@100", "hitrate@10", "map@10", "mrr"]

failures = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg)
    if not cond:
        failures.append(msg)


def marquee_train(home, config_text, folder):
    path = os.path.join(folder, "job.toml")
    with open(path, "w") as f:
        f.write(config_text)
    out = subprocess.run([BIN, "--home", home, "-q", "train", path, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if not os.path.exists(DATA):
        print(f"skip: {DATA} is absent (set MARQUEE_SHARED_DATA)")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        # 1. The config, reading the file directly.
        r = marquee_train(home, f"""
[data]
train = "{DATA}"
positive_threshold = 3.5
[split]
protocol = "strong-generalization"
test_users = 150
fold_in = 0.8
seed = 98765
[model]
family = "ease"
lambda = 500.0
[eval]
metrics = ["recall@20", "recall@50", "ndcg@100"]
""", tmp)
        m = r["metrics"]
        check(m["recall@20"] >= 0.40, f"EASE recall@20 = {m['recall@20']:.4f} >= 0.40")
        check(m["ndcg@100"] >= 0.45, f"EASE ndcg@100 = {m['ndcg@100']:.4f} >= 0.45")
        check(r["eval"]["users_evaluated"] == 150, "150 held-out users evaluated")

        # 2. Parity with numpy on a given split.
        split = os.path.join(tmp, "split")
        subprocess.run(["/usr/bin/python3", os.path.join(REF, "make_given_split.py"), "--data",
                        DATA, "--test-users", "150", "--fold-in", "0.8", "--seed", "98765",
                        "--threshold", "3.5", "--out", split], check=True)
        for model, extra in [("popularity", ""), ("ease", "lambda = 500.0\nprecision = \"float64\"")]:
            r = marquee_train(home, f"""
[data]
train = "{split}/train.tsv"
positive_threshold = 3.5
[split]
protocol = "given"
eval_input = "{split}/in.tsv"
eval_target = "{split}/target.tsv"
refit = false
[model]
family = "{model}"
{extra}
[eval]
metrics = {json.dumps(METRICS)}
""", tmp)
            ref = json.loads(subprocess.run(
                ["/usr/bin/python3", os.path.join(REF, "numpy_recsys.py"), "--train",
                 f"{split}/train.tsv", "--input", f"{split}/in.tsv", "--target",
                 f"{split}/target.tsv", "--model", model, "--lambda", "500", "--threshold", "3.5",
                 "--metrics", ",".join(METRICS), "--json"],
                check=True, capture_output=True, text=True).stdout)
            for k in METRICS:
                ours, theirs = r["metrics"][k], ref["metrics"][k]
                check(round(ours, 3) == round(theirs, 3) and abs(ours - theirs) < 5e-4,
                      f"{model} {k}: marquee {ours:.5f} numpy {theirs:.5f}")
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
