#!/usr/bin/python3
"""Parity of `marquee ope` (src/bandits/ope.h) with an independent numpy implementation on the
Open Bandit Dataset (men and women campaigns): candidate = the Bernoulli-TS log's empirical
action distribution per position (--policy-from-log), evaluated on the uniform-random log.

numpy computes pi(item | position) = count of item at that position in the BTS log / rows at
that position, w = pi(item_i | pos_i) / propensity_i, and
  IPS = mean(w r), SNIPS = sum(w r) / sum(w)                                 (to 1e-9)
  DM, DR, SNDR with the reward model q(item, pos) = (sum r + m * mean r) / (n + m), m = 1,
  fitted on every row (`--reward-model mean --folds 1`)                      (to 1e-9)
and the effective sample size (sum w)^2 / sum w^2. Also checks that bad input fails with one
readable line. Skipped (exit 77) when the data or numpy is absent.
"""
import json
import os
import subprocess
import sys
import tempfile

import checks  # tests/python/checks.py
from checks import check, finish

checks.show_passes = False  # thousands of checks: print only failures

try:
    import numpy as np
except ImportError:
    print("skip: numpy not installed")
    sys.exit(77)

BIN = os.environ.get("MARQUEE_BIN", "marquee")
DATA = os.environ.get("MARQUEE_SHARED_DATA", os.path.join(os.path.dirname(__file__),
                                                          "../../../shared/data"))
OBD = os.path.join(DATA, "open-bandit-dataset")
TOL = 1e-9



def run(home, *args):
    r = subprocess.run([BIN, "--home", home, "--quiet", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"marquee {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def load(path):
    """item_id, position, click, propensity_score columns of an OBD campaign CSV."""
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
    cols = [header.index(c) for c in ("item_id", "position", "click", "propensity_score")]
    a = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64)
    return a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2], a[:, 3]


def numpy_ope(rnd_csv, bts_csv, n_items):
    item, pos, r, p = load(rnd_csv)
    b_item, b_pos, b_r, _ = load(bts_csv)
    positions = np.unique(np.concatenate([pos, b_pos]))
    pi = {}
    for k in positions:
        counts = np.bincount(b_item[b_pos == k], minlength=n_items).astype(np.float64)
        pi[k] = counts / counts.sum()
    pi_rows = np.stack([pi[k] for k in pos])          # n x items
    w = pi_rows[np.arange(len(item)), item] / p
    ips = np.mean(w * r)
    snips = np.sum(w * r) / np.sum(w)
    # Reward model: smoothed mean per (item, position), m = 1, all rows.
    g = r.mean()
    q = {}
    for k in positions:
        s = np.bincount(item[pos == k], weights=r[pos == k], minlength=n_items)
        c = np.bincount(item[pos == k], minlength=n_items).astype(np.float64)
        q[k] = (s + 1.0 * g) / (c + 1.0)
    q_rows = np.stack([q[k] for k in pos])
    dm_rows = np.sum(pi_rows * q_rows, axis=1)
    qa = q_rows[np.arange(len(item)), item]
    dm = dm_rows.mean()
    dr = np.mean(dm_rows + w * (r - qa))
    sndr = dm + np.sum(w * (r - qa)) / np.sum(w)
    ess = np.sum(w) ** 2 / np.sum(w * w)
    return {"ips": ips, "snips": snips, "dm": dm, "dr": dr, "sndr": sndr}, ess, b_r.mean()


def main():
    campaigns = {"men": 34, "women": 46}
    paths = {(pol, c): os.path.join(OBD, pol, c, c + ".csv") for pol in ("random", "bts")
             for c in campaigns}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        print(f"skip: Open Bandit Dataset files absent ({missing[0]})")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as home:
        for (pol, c), path in paths.items():
            run(home, "dataset", "import", "--format", "obd", "--name", f"obd-{c}-{pol}", path,
                "--json")
        listed = json.loads(run(home, "dataset", "list", "--json"))
        names = {d["name"] for d in listed["datasets"] if d.get("kind") == "bandit"}
        check(names == {f"obd-{c}-{p}" for c in campaigns for p in ("random", "bts")},
              f"dataset list shows the bandit logs: {sorted(names)}")
        for c, n_items in campaigns.items():
            out = json.loads(run(home, "ope", "--log", f"obd-{c}-random", "--policy-from-log",
                                 f"obd-{c}-bts", "--estimators", "ips,snips,dm,dr,sndr",
                                 "--reward-model", "mean", "--folds", "1", "--bootstrap", "50",
                                 "--json"))
            ref, ess, on_policy = numpy_ope(paths[("random", c)], paths[("bts", c)], n_items)
            check(out["n"] == 10000, f"{c}: n {out['n']}")
            for name, v in ref.items():
                ours = out["estimates"][name]["value"]
                check(abs(ours - v) <= TOL,
                      f"{c}: {name} marquee {ours!r} vs numpy {v!r} (|diff| {abs(ours - v):.3g})")
                lo, hi = out["estimates"][name]["ci"]
                check(lo <= ours <= hi, f"{c}: {name} CI [{lo}, {hi}] excludes {ours}")
            check(abs(out["ess"] - ess) <= 1e-6 * ess, f"{c}: ess {out['ess']} vs numpy {ess}")
            print(f"{c}: IPS {out['estimates']['ips']['value']:.6f} (numpy {ref['ips']:.6f}), "
                  f"SNIPS {out['estimates']['snips']['value']:.6f} (numpy {ref['snips']:.6f}), "
                  f"DR {out['estimates']['dr']['value']:.6f}; on-policy {on_policy:.6f}")
        # Offline training through `marquee train` (registered), then OPE of the registered
        # policy by reference, and replay for a deterministic (epsilon 0) LinUCB.
        cfg = os.path.join(home, "artwork.toml")
        with open(cfg, "w") as f:
            f.write('[data]\ndataset = "obd-men-random"\n[split]\ntest_fraction = 0.3\n'
                    '[model]\nfamily = "linucb"\nname = "artwork"\nalpha = 0.1\n'
                    'features = { dim = 32 }\n[eval]\nbootstrap = 20\n')
        tr = json.loads(run(home, "train", cfg, "--json"))
        check(tr["model"] == "artwork" and tr["version"] == 1, f"train registered: {tr.get('model')}")
        check(tr["split"]["test_rows"] == 3000, f"held-out rows {tr['split']}")
        for m in ("ope_ips", "ope_snips", "ope_dr", "logged_reward"):
            check(m in tr["metrics"], f"train metrics lack {m}: {sorted(tr['metrics'])}")
        run(home, "models", "promote", "artwork", "1", "--alias", "production")
        ev = json.loads(run(home, "ope", "--log", "obd-men-random", "--policy",
                            "artwork@production", "--bootstrap", "10", "--json"))
        check(ev["deterministic"] and "replay" in ev["estimates"],
              f"deterministic LinUCB gets replay: {ev['estimator_order']}")
        check(ev["replay_matches"] > 0, f"replay matches {ev['replay_matches']}")
        # Bad input: one readable line, non-zero exit.
        for args in (["ope", "--log", "obd-men-random", "--policy-from-log", "nope"],
                     ["ope", "--log", "obd-men-random", "--policy-from-log", "obd-men-bts",
                      "--estimators", "ips,magic"],
                     ["ope", "--log", "obd-men-random", "--policy-from-log", "obd-men-bts",
                      "--reward-model", "magic"],
                     ["ope", "--log", "obd-men-random"]):
            r = subprocess.run([BIN, "--home", home, *args], capture_output=True, text=True)
            check(r.returncode != 0 and r.stderr.count("\n") == 1 and "error" in r.stderr,
                  f"{args}: rc {r.returncode}, stderr {r.stderr!r}")
    if finish() != 0:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
