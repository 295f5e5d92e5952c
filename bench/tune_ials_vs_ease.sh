#!/usr/bin/env bash
# `marquee tune` on iALS with its default space and a time budget (default 5m) against EASE's
# recall@20 under the same protocol: MovieLens latest-small, strong generalization (ratings >
# 3.5 are positives, 100 held-out test users, 80% fold-in, split seed 98765). Tuning computes
# its objective on validation users carved from the training users; the test recall@20 of the
# best configuration is computed once at the end. EASE is shown with its default lambda and
# tuned by the same command (same budget) for reference.
#   bench/tune_ials_vs_ease.sh [BUDGET] [DATAFILE]     (TUNE_EASE=0: skip tuning EASE)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
BUDGET=${1:-5m}
FILE=${2:-$DATA/movielens-latest-small/ratings.csv}
OUT=bench/out/tune_ials_vs_ease
rm -rf "$OUT" && mkdir -p "$OUT"
uptime
for fam in ease ials; do
  bench/family_job.sh "$FILE" 100 98765 "$fam" >"$OUT/$fam.toml"
done
"$BIN" --home "$OUT/home" -q train "$OUT/ease.toml" --json >"$OUT/ease-default.json"
/usr/bin/time -f "%e s wall" "$BIN" --home "$OUT/home" -q tune "$OUT/ials.toml" --budget "$BUDGET" \
  --json >"$OUT/ials-tuned.json"
if [ "${TUNE_EASE:-1}" = 1 ]; then
  /usr/bin/time -f "%e s wall" "$BIN" --home "$OUT/home" -q tune "$OUT/ease.toml" --budget "$BUDGET" \
    --json >"$OUT/ease-tuned.json"
fi
"$BIN" --home "$OUT/home" -q train "$OUT/ials.toml" --json >"$OUT/ials-default.json"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
ed = json.load(open(f"{out}/ease-default.json"))
idf = json.load(open(f"{out}/ials-default.json"))
print("| model | trials (pruned) | validation recall@20 | test recall@20 | test ndcg@100 | params |")
print("|---|---:|---:|---:|---:|---|")
for name, r in [("EASE default", ed), ("iALS default", idf)]:
    print(f"| {name} | - | - | {r['metrics']['recall@20']:.4f} | {r['metrics']['ndcg@100']:.4f} | "
          f"{json.dumps(r['params'])} |")
import os
for name in ["ials", "ease"]:
    if not os.path.exists(f"{out}/{name}-tuned.json"):
        continue
    t = json.load(open(f"{out}/{name}-tuned.json"))
    b = t["best"]
    print(f"| {name} tuned ({t['seconds']:.0f} s) | {t['trials']} ({t['pruned']}) | "
          f"{b['validation']['recall@20']:.4f} | {b['test']['recall@20']:.4f} | "
          f"{b['test']['ndcg@100']:.4f} | {json.dumps(b['params'])} |")
PY
