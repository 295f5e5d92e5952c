#!/usr/bin/env python3
"""A recommender, notebook style (each "# %%" is a cell): import a dataset, train two versions
as server jobs, compare their runs, promote the better one behind a gate, recommend.

    python3 examples/python/recommender_walkthrough.py http://127.0.0.1:8080   # or MARQUEE_URL

Data: MovieLens-100K (../shared/data/movielens-100k/u.data, or MARQUEE_SHARED_DATA), uploaded
from this machine; without it, a small synthetic play log built with pandas.
"""
# %%
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # a checkout without .venv
import marquee  # noqa: E402

url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MARQUEE_URL")
client = marquee.Client(url)
MODEL = os.environ.get("MARQUEE_MODEL", "walkthrough-recs")

# %% 1. Import a dataset: the file is streamed to the server, which stores a snapshot.
shared = os.environ.get("MARQUEE_SHARED_DATA",
                        os.path.join(HERE, "..", "..", "..", "shared", "data"))
udata = os.path.join(shared, "movielens-100k", "u.data")
if os.path.exists(udata):
    ds = client.import_dataset("ml100k", udata, format="tsv", user_col=0, item_col=1,
                               value_col=2, time_col=3, header=False)
else:
    import pandas as pd
    plays = pd.DataFrame([(f"u{u}", f"i{(u * 7 + j * 3) % 90}", 1 + (u + j) % 5)
                          for u in range(400) for j in range(25)],
                         columns=["user", "item", "rating"])
    ds = client.import_dataset("ml100k", plays, user_col="user", item_col="item",
                               value_col="rating")
print(f"dataset {ds['name']}: {ds['interactions']} interactions")

# %% 2. Train two versions as jobs on the server (progress is shown while they run).
config = {"data": {"dataset": "ml100k", "positive_threshold": 3.5},
          "split": {"protocol": "strong-generalization", "test_users": 100, "fold_in": 0.8,
                    "seed": 98765},
          "model": {"family": "ease", "name": MODEL, "lambda": 500.0},
          "eval": {"metrics": ["recall@20", "ndcg@20"]}}
jobs = [client.train(config, overrides={"model.lambda": lam}) for lam in (50, 500)]
runs = [job["result"]["run_id"] for job in jobs]

# %% 3. Compare the runs side by side.
cmp = client.compare(runs)
for r in cmp["runs"]:
    print(f"run {r['id']} v{r['version']}: lambda {r['params'].get('lambda')}, "
          f"ndcg@20 {r['metrics']['ndcg@20']:.4f}")
print(client.runs(model=MODEL, limit=5))

# %% 4. Promote the better version, gated on production (a failing gate refuses the move).
best = max(cmp["runs"], key=lambda r: r["metrics"]["ndcg@20"])
aliases = client.model(MODEL).get("aliases", {})
gate = "ndcg@20>=production" if "production" in aliases else "ndcg@20>0"
moved = client.promote(MODEL, best["version"], alias="production", require=gate)
print(f"production: v{moved['from_version']} -> v{moved['to_version']}")

# %% 5. Recommend: for a known member, and for a new one from a history (fold-in).
member = "196" if os.path.exists(udata) else "u1"
top = client.recommend(f"{MODEL}@production", user=member, k=5)
print(f"top 5 for {member}: {[it['id'] for it in top['items']]}")
seed = top["items"][0]["id"]
fresh = client.recommend(f"{MODEL}@production", history=[seed], k=5)
print(f"top 5 after watching {seed}: {[it['id'] for it in fresh['items']]}")
