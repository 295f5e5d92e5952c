#!/usr/bin/python3
"""Independent numpy reference for Marquee's evaluation of popularity and EASE on a given split.

Written from the published definitions, sharing no code with Marquee, so that the two can be
compared number for number on the same files:

  * files:   one interaction per line, ``user<TAB>item[<TAB>value[<TAB>...]]``
  * items:   indexed in order of first appearance in the TRAIN file; input/target rows whose item
             is not in that catalogue are dropped (and counted)
  * popularity: score(i) = number of training users with a positive for i
  * EASE (Steck 2019): with X the binary users x items training matrix,
             P = (X^T X + lambda I)^-1,  B = I - P diag(1 / diag(P)),  diag(B) = 0   (float64);
             a fold-in user u with binary history x_u is scored x_u B
  * ranking: input items are excluded; descending score, ties broken by the lower item index
             (a stable argsort of -score)
  * metrics (Liang et al. 2018, as in Steck 2019 and Rendle et al. 2022), T = target set:
        Recall@K    = |top-K ∩ T| / min(K, |T|)
        NDCG@K      = sum_{r<=K, item_r in T} 1/log2(r+1)  /  sum_{r=1}^{min(K,|T|)} 1/log2(r+1)
        HitRate@K   = 1 if any hit in the top K
        Precision@K = hits / K
        MAP@K       = (1 / min(K, |T|)) sum_{r<=K} Precision@r * rel_r
        MRR@K       = 1 / rank of the first hit within K (0 if none); "mrr": over the full ranking
        coverage@K  = distinct items in any evaluated user's top K / number of items
    averaged over the evaluated users (those with at least one target left).

Evaluated users are the distinct users of the TARGET file in order of first appearance; their
INPUT rows are the history. Targets that are also in the user's input are dropped (they are
excluded from the ranking, so could never be found); a user with no target left is not evaluated.

Usage:
  numpy_recsys.py --train TRAIN --input IN --target TARGET --model ease|popularity
                  [--lambda 500] [--metrics recall@20,ndcg@100] [--threshold T] [--json]

Run it with Debian's interpreter (/usr/bin/python3), which has numpy.
"""

import argparse
import json
import sys
import time

import numpy as np

METRIC_FORMS = ("recall@K, ndcg@K, hitrate@K (or hr@K), precision@K, map@K, mrr or mrr@K, "
                "coverage@K")
KINDS = {"recall": "recall", "ndcg": "ndcg", "hitrate": "hitrate", "hr": "hitrate",
         "precision": "precision", "map": "map", "mrr": "mrr", "coverage": "coverage"}


def parse_metric(text):
    """'Recall@20' -> ('recall', 20, 'recall@20'); 'mrr' -> ('mrr', 0, 'mrr')."""
    s = text.strip().lower()
    base, at, k = s.partition("@")
    if base not in KINDS:
        raise ValueError(f"unknown metric '{text}'; valid forms: {METRIC_FORMS}")
    kind = KINDS[base]
    if not at:
        if kind != "mrr":
            raise ValueError(f"metric '{text}' needs a cut-off; valid forms: {METRIC_FORMS}")
        return kind, 0, "mrr"
    if not k.isdigit() or int(k) == 0:
        raise ValueError(f"metric '{text}' has a bad cut-off; valid forms: {METRIC_FORMS}")
    return kind, int(k), f"{kind}@{int(k)}"


def read_rows(path):
    """Yields (user, item, value or None) for each non-empty line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{path}:{lineno}: expected user<TAB>item[<TAB>value...]")
            value = float(fields[2]) if len(fields) > 2 and fields[2] != "" else None
            yield fields[0], fields[1], value


class TrainData:
    """The binary training matrix, as per-user item lists, with first-appearance indexes."""

    def __init__(self, path, threshold=None):
        self.item_index = {}
        self.user_index = {}
        pairs = set()
        for user, item, value in read_rows(path):
            if threshold is not None:
                if value is None:
                    raise ValueError(f"{path}: --threshold needs a value column")
                if not value > threshold:
                    continue
            u = self.user_index.setdefault(user, len(self.user_index))
            i = self.item_index.setdefault(item, len(self.item_index))
            pairs.add((u, i))
        self.num_users = len(self.user_index)
        self.num_items = len(self.item_index)
        if not pairs:
            raise ValueError(f"{path}: no training interactions")
        arr = np.array(sorted(pairs), dtype=np.int64)
        self.rows, self.cols = arr[:, 0], arr[:, 1]

    def nnz(self):
        return len(self.rows)

    def popularity(self):
        return np.bincount(self.cols, minlength=self.num_items).astype(np.float64)

    def gram(self, chunk=4096):
        """X^T X in float64, built from dense blocks of users (X is binary)."""
        n = self.num_items
        g = np.zeros((n, n), dtype=np.float64)
        order = np.argsort(self.rows, kind="stable")
        rows, cols = self.rows[order], self.cols[order]
        bounds = np.searchsorted(rows, np.arange(0, self.num_users + chunk, chunk))
        for b in range(len(bounds) - 1):
            lo, hi = bounds[b], bounds[b + 1]
            if lo == hi:
                continue
            base = b * chunk
            block = np.zeros((min(chunk, self.num_users - base), n), dtype=np.float64)
            block[rows[lo:hi] - base, cols[lo:hi]] = 1.0
            g += block.T @ block
        return g


def ease_weights(gram, lam):
    """B = I - P diag(1/diag(P)), P = (G + lam I)^-1; diag(B) = 0 (Steck 2019, eq. 8)."""
    p = np.linalg.inv(gram + lam * np.eye(gram.shape[0]))
    b = -p / np.diag(p)[np.newaxis, :]
    np.fill_diagonal(b, 0.0)
    return b


def load_eval(train, input_path, target_path):
    """Per evaluated user: (history item indices, target item indices), plus drop counts."""
    order, targets, histories = [], {}, {}
    stats = {"dropped_unknown_target_items": 0, "dropped_unknown_input_items": 0,
             "dropped_targets_in_input": 0, "dropped_users": 0,
             "input_rows_without_target_user": 0}
    for user, item, _ in read_rows(target_path):
        if user not in targets:
            order.append(user)
            targets[user] = set()
            histories[user] = set()
        i = train.item_index.get(item)
        if i is None:
            stats["dropped_unknown_target_items"] += 1
        else:
            targets[user].add(i)
    for user, item, _ in read_rows(input_path):
        if user not in histories:
            stats["input_rows_without_target_user"] += 1
            continue
        i = train.item_index.get(item)
        if i is None:
            stats["dropped_unknown_input_items"] += 1
        else:
            histories[user].add(i)
    users = []
    for user in order:
        overlap = targets[user] & histories[user]
        stats["dropped_targets_in_input"] += len(overlap)
        t = targets[user] - overlap
        if not t:
            stats["dropped_users"] += 1
            continue
        users.append((user, np.array(sorted(histories[user]), dtype=np.int64),
                      np.array(sorted(t), dtype=np.int64)))
    stats["dropped_unknown_items"] = (stats["dropped_unknown_target_items"]
                                      + stats["dropped_unknown_input_items"])
    return users, stats


def user_metrics(ranking, targets, specs):
    """Values of each spec for one user; `ranking` is the full ranking (excluded items removed)."""
    hit = np.isin(ranking, targets)
    n_t = len(targets)
    out = []
    for kind, k, _ in specs:
        if kind == "coverage":
            out.append(0.0)  # corpus level, computed by the caller
            continue
        if kind == "mrr":
            h = hit if k == 0 else hit[:k]
            first = np.flatnonzero(h)
            out.append(1.0 / (first[0] + 1) if len(first) else 0.0)
            continue
        h = hit[:k].astype(np.float64)
        ideal = min(k, n_t)
        if kind == "recall":
            out.append(h.sum() / ideal)
        elif kind == "ndcg":
            disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
            out.append((h * disc[:len(h)]).sum() / disc[:ideal].sum())
        elif kind == "hitrate":
            out.append(1.0 if h.any() else 0.0)
        elif kind == "precision":
            out.append(h.sum() / k)
        elif kind == "map":
            prec = np.cumsum(h) / np.arange(1, len(h) + 1)
            out.append((prec * h).sum() / ideal)
    return out


def evaluate(train, users, scorer, specs, batch=256):
    n = train.num_items
    sums = np.zeros(len(specs), dtype=np.float64)
    covered = {k: np.zeros(n, dtype=bool) for kind, k, _ in specs if kind == "coverage"}
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        hist = np.zeros((len(chunk), n), dtype=np.float64)
        for r, (_, h, _) in enumerate(chunk):
            hist[r, h] = 1.0
        scores = scorer(hist)
        for r, (_, h, t) in enumerate(chunk):
            s = scores[r].copy()
            s[h] = -np.inf
            # Stable sort of -score: descending score, ties by lower item index; the excluded
            # items (-inf) sort last and are cut off.
            ranking = np.argsort(-s, kind="stable")[:n - len(h)]
            assert not np.isin(ranking, h).any(), "a model produced -inf scores"
            sums += np.array(user_metrics(ranking, t, specs))
            for k, cov in covered.items():
                cov[ranking[:k]] = True
    values = {}
    for j, (kind, k, name) in enumerate(specs):
        if kind == "coverage":
            values[name] = float(covered[k].sum()) / n
        else:
            values[name] = float(sums[j] / len(users)) if users else 0.0
    return values


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--model", required=True, choices=["ease", "popularity"])
    ap.add_argument("--lambda", dest="lam", type=float, default=500.0,
                    help="EASE L2 regularisation (default 500)")
    ap.add_argument("--metrics", default="recall@20,ndcg@100")
    ap.add_argument("--threshold", type=float, default=None,
                    help="keep training rows with value > threshold (default: every row)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        specs = [parse_metric(m) for m in args.metrics.split(",") if m.strip()]
    except ValueError as e:
        ap.error(str(e))

    t0 = time.perf_counter()
    train = TrainData(args.train, args.threshold)
    users, stats = load_eval(train, args.input, args.target)
    if args.model == "popularity":
        pop = train.popularity()
        scorer = lambda hist: np.broadcast_to(pop, hist.shape)  # noqa: E731
    else:
        b = ease_weights(train.gram(), args.lam)
        scorer = lambda hist: hist @ b  # noqa: E731
    t_fit = time.perf_counter() - t0
    metrics = evaluate(train, users, scorer, specs)
    result = {
        "model": args.model,
        "params": {"lambda": args.lam} if args.model == "ease" else {},
        "metrics": metrics,
        "users_evaluated": len(users),
        "users_skipped": stats["dropped_users"],
        "items": train.num_items,
        "train_users": train.num_users,
        "train_interactions": train.nnz(),
        "details": stats,
        "seconds": {"fit": t_fit, "total": time.perf_counter() - t0},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"model={args.model} users_evaluated={len(users)} items={train.num_items} "
              f"train_interactions={train.nnz()}")
        for name, value in metrics.items():
            print(f"{name}\t{value:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
