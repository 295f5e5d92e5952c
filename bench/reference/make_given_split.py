#!/usr/bin/python3
"""Creates a strong-generalization split as files, for Marquee's "given" protocol and the numpy
reference (numpy_recsys.py) to consume alike.

Reads a MovieLens-style file (``user item rating time``, tab or blank separated), keeps the
positives (rating > threshold), picks ``--test-users`` held-out users uniformly at random among
the users with at least ``--min-items`` distinct positive items (numpy's default_rng(seed)), and
writes:

  DIR/train.tsv   the other users' positive rows: user<TAB>item<TAB>value<TAB>time (file order)
  DIR/in.tsv      per held-out user, a random --fold-in share of their distinct positive items
                  (at least 1, leaving at least 1): user<TAB>item
  DIR/target.tsv  the rest of each held-out user's positive items: user<TAB>item

Held-out users appear in order of first appearance in the data file. This split is its own: it
does not reproduce Marquee's MakeSplit; it *creates* a given split both sides then evaluate on.

Usage:
  make_given_split.py --data u.data --test-users 150 --fold-in 0.8 --seed 98765 \
                      --threshold 3.5 --out DIR
"""

import argparse
import json
import os
import sys

import numpy as np


def read_ratings(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < 3:
                raise ValueError(f"{path}:{lineno}: expected user item rating [time]")
            time = fields[3].strip() if len(fields) > 3 else "0"
            rows.append((fields[0].strip(), fields[1].strip(), float(fields[2]), time))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--test-users", type=int, required=True)
    ap.add_argument("--fold-in", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=98765)
    ap.add_argument("--threshold", type=float, default=None,
                    help="positives are rows with rating > threshold (default: every row)")
    ap.add_argument("--min-items", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not 0.0 < args.fold_in < 1.0:
        ap.error(f"--fold-in must be in (0, 1) (got {args.fold_in})")
    if args.min_items < 2:
        ap.error("--min-items must be at least 2 (a held-out user needs an input and a target)")

    rows = read_ratings(args.data)
    pos = [r for r in rows if args.threshold is None or r[2] > args.threshold]
    user_items = {}  # user -> distinct positive items, in order of first appearance
    for user, item, _, _ in pos:
        items = user_items.setdefault(user, {})
        items.setdefault(item, None)
    eligible = [u for u, items in user_items.items() if len(items) >= args.min_items]
    if args.test_users < 1 or args.test_users > len(eligible):
        ap.error(f"--test-users must be in [1, {len(eligible)}] (users with >= "
                 f"{args.min_items} positives); got {args.test_users}")

    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(eligible), size=args.test_users, replace=False)
    held = {eligible[i] for i in chosen}

    os.makedirs(args.out, exist_ok=True)
    n_train = n_in = n_target = 0
    with open(os.path.join(args.out, "train.tsv"), "w", encoding="utf-8") as f:
        for user, item, value, time in pos:
            if user in held:
                continue
            f.write(f"{user}\t{item}\t{value:g}\t{time}\n")
            n_train += 1
    with open(os.path.join(args.out, "in.tsv"), "w", encoding="utf-8") as fin, \
            open(os.path.join(args.out, "target.tsv"), "w", encoding="utf-8") as ftg:
        for user, items in user_items.items():  # first-appearance order
            if user not in held:
                continue
            items = list(items)
            n = len(items)
            n_input = min(max(int(round(args.fold_in * n)), 1), n - 1)
            perm = rng.permutation(n)
            for j in sorted(perm[:n_input]):
                fin.write(f"{user}\t{items[j]}\n")
            for j in sorted(perm[n_input:]):
                ftg.write(f"{user}\t{items[j]}\n")
            n_in += n_input
            n_target += n - n_input
    summary = {"data": args.data, "out": args.out, "seed": args.seed,
               "threshold": args.threshold, "fold_in": args.fold_in,
               "test_users": args.test_users, "eligible_users": len(eligible),
               "train_rows": n_train, "input_rows": n_in, "target_rows": n_target}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
