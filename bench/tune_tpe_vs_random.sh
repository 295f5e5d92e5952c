#!/usr/bin/env bash
# TPE against random search at an equal budget of trials, over seeds: the best validation
# objective each reaches (and the test metric of its best configuration).
#   bench/tune_tpe_vs_random.sh ml100k [TRIALS] [SEEDS...]   iALS, default space, recall@20
#   bench/tune_tpe_vs_random.sh credit [TRIALS] [SEEDS...]   XGBoost, default space, auc
#     (examples/uci-credit-xgboost.toml with tree_method = "hist": XGBoost 1.7's default "exact"
#     took 152 s for one trial on this 2-core machine under load 10)
# Defaults: 20 trials, seeds 1 2 3 4 5; TPE starts after 8 random trials.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/release/tools/marquee/marquee}  # another build: BIN=/path/to/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
TASK=${1:?ml100k or credit}
TRIALS=${2:-20}
shift $(( $# >= 2 ? 2 : $# ))
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5)
OUT=bench/out/tune_tpe_vs_random_$TASK
rm -rf "$OUT" && mkdir -p "$OUT"
uptime
EXTRA=()
case "$TASK" in
  ml100k) bench/family_job.sh "$DATA/movielens-100k/u.data" 150 98765 ials >"$OUT/job.toml"; METRIC=recall@20 ;;
  credit)
    sed "s#\.\./\.\./shared/data#$DATA#" examples/uci-credit-xgboost.toml >"$OUT/job.toml"; METRIC=auc
    EXTRA=(--set model.tree_method=hist) ;;
  *) echo "unknown task $TASK" >&2; exit 2 ;;
esac
for seed in "${seeds[@]}"; do
  for sampler in tpe random; do  # alternate, so load drifts hit both
    "$BIN" --home "$OUT/home-$sampler-$seed" -q tune "$OUT/job.toml" --trials "$TRIALS" \
      --seed "$seed" --sampler "$sampler" --startup-trials 8 --metric "$METRIC" "${EXTRA[@]}" --json \
      >"$OUT/$sampler-$seed.json"
  done
done
/usr/bin/python3 - "$OUT" "$METRIC" "${seeds[@]}" <<'PY'
import json, statistics, sys
out, metric, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"| sampler | mean best validation {metric} | std | mean test {metric} | per seed (validation) |")
print("|---|---:|---:|---:|---|")
for s in ["tpe", "random"]:
    rs = [json.load(open(f"{out}/{s}-{k}.json")) for k in seeds]
    v = [r["best"]["validation"][metric] for r in rs]
    t = [r["best"]["test"][metric] for r in rs]
    print(f"| {s} | {statistics.mean(v):.4f} | {statistics.pstdev(v):.4f} | "
          f"{statistics.mean(t):.4f} | {', '.join(f'{x:.4f}' for x in v)} |")
PY
