#!/usr/bin/env bash
# Online experiments: A/B test vs team-draft interleaving in the replay simulator, EASE against
# popularity on MovieLens-100K (ratings > 3.5 are positives, half the users held out as traffic,
# 80% fold-in), over several member splits x traffic seeds; then the A/A false-positive rates
# (1,000 simulated A/A tests). Prints what docs/BENCHMARKS.md reports. Needs ../shared/data.
#   bench/experiment_sim.sh [SPLIT_SEEDS...]     (default: 98765 1 2 3 4; 20 traffic seeds each)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
OUT=bench/out/experiment_sim
mkdir -p "$OUT"
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(98765 1 2 3 4)
# The mSPRT mixture sd (--tau-sd, in sds of the metric): 0.1 is the library default, tuned to
# the small effects of real A/B tests; 0.5 is closer to the size of this (large) effect.
for tau in 0.1 0.5; do
  echo "== mSPRT tau-sd $tau"
  for s in "${seeds[@]}"; do
    "$BIN" -q --threads 1 simulate experiment --data "$DATA/movielens-100k/u.data" \
      --positive-threshold 3.5 --a popularity --b ease:lambda=500.0 --k 10 --seeds 20 \
      --split-seed "$s" --tau-sd "$tau" --json >"$OUT/split-$s-tau-$tau.json"
  done
  /usr/bin/python3 - "$OUT" "$tau" "${seeds[@]}" <<'PY'
import json, sys
out, tau, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
ab, il, ratios, fh = [], [], [], []
det_ab = det_il = runs = right_ab = right_il = 0
for s in seeds:
    r = json.load(open(f"{out}/split-{s}-tau-{tau}.json"))
    print(f"split {s}: plays/member popularity {r['a']['plays_per_member']:.3f}, "
          f"EASE {r['b']['plays_per_member']:.3f}; sequential ratio mean "
          f"{r['ratio_ab_over_interleave']['mean']:.2f}; 80%-power members A/B "
          f"{r['fixed_horizon']['ab_members_for_80pct_power']} interleaving "
          f"{r['fixed_horizon']['interleave_members_for_80pct_power']}")
    right_ab += r["ab"]["right_direction"]
    right_il += r["interleave"]["right_direction"]
    for x in r["seeds"]:
        runs += 1
        if x["ab_members"] is not None:
            det_ab += 1; ab.append(x["ab_members"])
        if x["interleave_members"] is not None:
            det_il += 1; il.append(x["interleave_members"])
        if x["ratio"] is not None:
            ratios.append(x["ratio"])
    if r["fixed_horizon"]["ratio_at_80pct_power"] is not None:
        fh.append(r["fixed_horizon"]["ratio_at_80pct_power"])
mean = lambda v: sum(v) / len(v)
print(f"runs {runs}: detected A/B {det_ab} ({right_ab} favouring the offline winner), "
      f"interleaving {det_il} ({right_il})")
print(f"members needed (mSPRT): A/B mean {mean(ab):.1f} [{min(ab)}, {max(ab)}], "
      f"interleaving mean {mean(il):.1f} [{min(il)}, {max(il)}]")
print(f"ratio A/B over interleaving: mean {mean(ratios):.2f}, min {min(ratios):.2f}, "
      f"max {max(ratios):.2f} over {len(ratios)} runs")
print(f"fixed-horizon ratio at 80% power: mean {mean(fh):.2f}, min {min(fh):.2f}, "
      f"max {max(fh):.2f} over {len(fh)} splits")
PY
done
"$BUILD/tests/test_experiments" --gtest_filter='AaSlow*' | grep -E '^A/A|OK|FAILED'
