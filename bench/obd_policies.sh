#!/bin/bash
# Issue #19's Open Bandit Dataset check: every bandit policy family, old defaults beside the new
# learners, trained on the first 80% (in time) of each campaign's uniform-random log and valued
# off-policy on the last 20% (marquee train's temporal holdout: IPS, SNIPS and DR with the ridge
# reward model, percentile bootstrap 95% intervals over BOOTSTRAP resamples, seed SEED).
#   old: uniform, epsilon-greedy with model = "linear" (ridge over 64 hashed dimensions, the
#        default before #19) and "disjoint", linucb, lints (their defaults)
#   new: cb-adf, epsilon-greedy and softmax (defaults: the online learner)
# Prints a markdown table per campaign (men, women).
#   bench/obd_policies.sh BUILD_DIR [BOOTSTRAP] [SEED]
set -euo pipefail
build=${1:?usage: bench/obd_policies.sh BUILD_DIR [BOOTSTRAP] [SEED]}
boot=${2:-200}
seed=${3:-98765}
here=$(cd "$(dirname "$0")" && pwd)
obd=${MARQUEE_SHARED_DATA:-$here/../../shared/data}/open-bandit-dataset
bin="$build/tools/marquee/marquee"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
echo "load: $(uptime)"
policies=("uniform" "epsilon-greedy:linear" "epsilon-greedy:disjoint" "linucb" "lints"
  "cb-adf" "epsilon-greedy" "softmax")
for c in men women; do
  "$bin" --home "$home" -q dataset import --format obd --name "obd-$c" "$obd/random/$c/$c.csv" \
    --json >/dev/null
  for p in "${policies[@]}"; do
    fam=${p%%:*}
    extra=""
    [ "$fam" != "$p" ] && extra="model = \"${p#*:}\""
    name="$c-$(echo "$p" | tr ':' '-')"
    cat >"$home/$name.toml" <<TOML
[data]
dataset = "obd-$c"
[split]
protocol = "temporal"
test_fraction = 0.2
seed = $seed
refit = false
[model]
family = "$fam"
name = "$name"
$extra
[eval]
estimators = ["ips", "snips", "dr"]
bootstrap = $boot
[run]
threads = 1
TOML
    "$bin" --home "$home" -q train "$home/$name.toml" --json >"$home/$name.json"
  done
done
/usr/bin/python3 - "$home" "${policies[@]}" <<'PY'
import json, sys
home, pols = sys.argv[1], sys.argv[2:]
old = {"uniform", "epsilon-greedy:linear", "epsilon-greedy:disjoint", "linucb", "lints"}
for c in ("men", "women"):
    first = json.load(open(f"{home}/{c}-{pols[0].replace(':', '-')}.json"))
    sp = first["split"]
    print(f"\n{c}: trained on {sp['train_rows']} rows, valued on the last {sp['test_rows']} "
          f"(logged click rate there {first['metrics']['logged_reward']:.5f})\n")
    print("| policy | | IPS [95% CI] | SNIPS [95% CI] | DR [95% CI] | ESS |")
    print("|---|---|---|---|---|---:|")
    for p in pols:
        r = json.load(open(f"{home}/{c}-{p.replace(':', '-')}.json"))
        e = r["ope"]["estimates"]
        cell = lambda k: f"{e[k]['value']:.5f} [{e[k]['ci'][0]:.5f}, {e[k]['ci'][1]:.5f}]"
        label = p.replace(":", ", model = ")
        print(f"| {label} | {'old' if p in old else 'new'} | {cell('ips')} | {cell('snips')} | "
              f"{cell('dr')} | {r['ope']['ess']:.0f} |")
PY
