#!/bin/bash
# Off-policy evaluation on the Open Bandit Dataset (men and women campaigns separately):
# candidate = the Bernoulli-TS log's empirical action distribution per position
# (`marquee ope --policy-from-log`), estimated from the uniform-random log with every estimator
# (bootstrap 95% intervals), compared with the candidate's on-policy click rate (the mean click
# of the Bernoulli-TS log). Prints a markdown table. REWARD_MODEL: the DM reward model
# (`marquee ope --reward-model`: auto (default; ridge on OBD), mean, ridge).
#   bench/obd_ope.sh BUILD_DIR [BOOTSTRAP] [SEED] [REWARD_MODEL]
set -euo pipefail
build=${1:?usage: bench/obd_ope.sh BUILD_DIR [BOOTSTRAP] [SEED] [REWARD_MODEL]}
boot=${2:-200}
seed=${3:-42}
reward_model=${4:-auto}
here=$(cd "$(dirname "$0")" && pwd)
obd=${MARQUEE_SHARED_DATA:-$here/../../shared/data}/open-bandit-dataset
bin="$build/tools/marquee/marquee"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
for c in men women; do
  for p in random bts; do
    "$bin" --home "$home" -q dataset import --format obd --name "obd-$c-$p" "$obd/$p/$c/$c.csv" \
      --json >/dev/null
  done
  "$bin" --home "$home" -q ope --log "obd-$c-random" --policy-from-log "obd-$c-bts" \
    --estimators ips,snips,dm,dr,sndr,switch-dr --bootstrap "$boot" --seed "$seed" \
    --reward-model "$reward_model" --json \
    >"$home/$c.json"
  "$bin" --home "$home" -q dataset show "obd-$c-bts" --json >"$home/$c-bts.json"
done
/usr/bin/python3 - "$home" <<'PY'
import json, sys
home = sys.argv[1]
print("| campaign | estimator | estimate | bootstrap 95% CI | on-policy CTR (BTS log) | relative error |")
print("|---|---|---:|---|---:|---:|")
for c in ("men", "women"):
    r = json.load(open(f"{home}/{c}.json"))
    truth = json.load(open(f"{home}/{c}-bts.json"))["stats"]["mean_reward"]
    for e in r["estimator_order"]:
        v = r["estimates"][e]
        rel = abs(v["value"] - truth) / truth
        print(f"| {c} | {e} | {v['value']:.5f} | [{v['ci'][0]:.5f}, {v['ci'][1]:.5f}] | "
              f"{truth:.5f} | {100 * rel:.1f}% |")
    print(f"| {c} | (n = {r['n']}, ESS = {r['ess']:.0f}, uniform log CTR {r['logged_reward']:.5f}) | | | | |")
for c in ("men", "women"):
    for w in json.load(open(f"{home}/{c}.json"))["warnings"]:
        print(f"\n{c}: warning: {w}")
PY
