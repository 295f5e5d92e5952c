#!/usr/bin/env bash
# Every recommender family on MovieLens-100K and MovieLens latest-small under strong
# generalization (ratings > 3.5 are positives, 80% fold-in), over several split seeds.
# Prints the markdown table in docs/BENCHMARKS.md. Needs ../shared/data.
#   bench/families.sh [SEEDS...]     (default seeds: 98765 1 2 3 4)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=bench
BIN=build/release/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
OUT=bench/out/families
mkdir -p "$OUT"
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(98765 1 2 3 4)
for ds in "movielens-100k/u.data:150" "movielens-latest-small/ratings.csv:100"; do
  file=${ds%%:*}
  users=${ds##*:}
  name=$(dirname "$file")
  for family in popularity itemknn ease ials bpr rp3beta; do
    for seed in "${seeds[@]}"; do
      "$BENCH"/family_job.sh "$DATA/$file" "$users" "$seed" "$family" >"$OUT/job.toml"
      "$BIN" --home "$OUT/home" -q train "$OUT/job.toml" --json >"$OUT/$name-$family-$seed.json"
    done
  done
done
/usr/bin/python3 - "$OUT" "${seeds[@]}" <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
for name in ["movielens-100k", "movielens-latest-small"]:
    print(f"\n**{name}** (mean ± std over split seeds {', '.join(seeds)})\n")
    print("| family | recall@20 | recall@50 | ndcg@100 | coverage@20 | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for fam in ["popularity", "itemknn", "ease", "ials", "bpr", "rp3beta"]:
        rs = [json.load(open(f"{out}/{name}-{fam}-{s}.json")) for s in seeds]
        cell = lambda k: (f"{statistics.mean(r['metrics'][k] for r in rs):.4f} ± "
                          f"{statistics.pstdev(r['metrics'][k] for r in rs):.4f}")
        t = statistics.mean(r["timings"]["train"] for r in rs)
        print(f"| {fam} | {cell('recall@20')} | {cell('recall@50')} | {cell('ndcg@100')} | "
              f"{cell('coverage@20')} | {t:.2f} |")
PY
