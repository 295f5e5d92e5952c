#!/bin/bash
# Issue #19's benchmark: logged-bandit data with a known ground truth (bench_bandit_vw gen: 10
# artworks with an id and 2 numeric features, 32 numeric context features, click probability
# logistic in context x artwork, uniform logging; TRAIN training and TEST test decisions), then
#   1. import the train log (marquee dataset import --format bandit-jsonl): time, peak RSS
#   2. marquee train each family from the imported snapshot (held-out OPE + refit, as users run
#      it): time, peak RSS, the learning rate reported by the job, and each saved policy's true
#      value on the test contexts and IPS on the test log (bench_bandit_vw value)
#   3. learning alone, single-threaded, from pre-keyed rows in memory (what a typed log hands the
#      learners): decisions/s, ROUNDS alternating rounds (median, min, max)
#   4. Vowpal Wabbit, when VW (a vw binary) is set: --cb_explore_adf --epsilon 0.1 -q ca
#      --onethread on the same data as text: end-to-end time, peak RSS, true value and IPS
#   5. the same families on the Open Bandit Dataset's uniform-random logs (men, women): marquee
#      train with a temporal 80/20 split, the held-out IPS / SNIPS / DR of each learned policy
#      (bench/obd_policies.sh is the fuller table, with the ridge families and intervals)
#   6. end to end, ROUNDS alternating rounds: import + train cb-adf, import + train epsilon-greedy
#      (defaults), and VW when set: wall seconds (median, each round) and peak RSS of each step
# Prints markdown tables. Data and homes go under OUT (default a temporary folder, removed);
# with REUSE=1 and OUT holding train.jsonl, train.vw, test.jsonl, test.vw and baselines.json
# from an earlier run of the same TRAIN, TEST and seed, the data is not generated again.
#   bench/bandit_vw.sh BUILD_DIR [TRAIN] [TEST] [ROUNDS]
set -euo pipefail
build=${1:?usage: bench/bandit_vw.sh BUILD_DIR [TRAIN] [TEST] [ROUNDS]}
train=${2:-1000000}
test=${3:-100000}
rounds=${4:-3}
bin="$build/tools/marquee/marquee"
gen="$build/bench/bench_bandit_vw"
keep=${OUT:+1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
[ -z "$keep" ] && trap 'rm -rf "$OUT"' EXIT
echo "load: $(uptime)"
common=(--train "$train" --test "$test" --seed 1)
timed() {  # timed NAME CMD...: runs CMD, records wall seconds and peak RSS in $OUT/NAME.time
  /usr/bin/time -f '%e %M' -o "$OUT/$1.time" "${@:2}"
}
want_vw=0
[ -n "${VW:-}" ] && want_vw=1
# The VW text is always written (train.vw, test.vw), so VW can be run on kept data (OUT) later.
if [ -z "${REUSE:-}" ] || [ ! -f "$OUT/baselines.json" ] || [ ! -f "$OUT/train.vw" ]; then
  "$gen" gen "${common[@]}" --out "$OUT" --vw 1 >"$OUT/baselines.json"
fi
home="$OUT/home"
rm -rf "$home"
timed import "$bin" --home "$home" -q dataset import --format bandit-jsonl --name train \
  "$OUT/train.jsonl" --json >/dev/null

families=(cb-adf epsilon-greedy softmax "epsilon-greedy:linear" "epsilon-greedy:disjoint"
  "cb-adf:squarecb" "cb-adf:bag")
for f in "${families[@]}"; do
  fam=${f%%:*}
  var=${f#*:}
  extra=""
  case "$f" in
    *:linear | *:disjoint) extra="model = \"$var\"" ;;
    cb-adf:squarecb) extra='explore = "squarecb"' ;;
    cb-adf:bag) extra='explore = "bag"' ;;
  esac
  name=$(echo "$f" | tr ':' '-')
  cat >"$OUT/$name.toml" <<EOF
[data]
dataset = "train"
[split]
protocol = "temporal"
test_fraction = 0.1
[model]
family = "$fam"
name = "$name"
$extra
[eval]
estimators = ["ips"]
bootstrap = 0
[run]
threads = 1
EOF
  timed "train-$name" "$bin" --home "$home" -q train "$OUT/$name.toml" --json >"$OUT/train-$name.json"
done

if [ "$want_vw" = 1 ]; then
  timed vw-train "$VW" --cb_explore_adf --epsilon 0.1 -q ca --onethread --quiet \
    -d "$OUT/train.vw" -f "$OUT/vw.model"
  "$VW" -t -i "$OUT/vw.model" --quiet -d "$OUT/test.vw" -p "$OUT/vw.preds"
fi

# Policy values: every saved artifact (and VW's predictions) on the test log.
args=()
for f in "${families[@]}"; do
  name=$(echo "$f" | tr ':' '-')
  args+=(--policy "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifact"])' \
    "$OUT/train-$name.json")")
done
[ "$want_vw" = 1 ] && args+=(--vw-preds "$OUT/vw.preds")
"$gen" value "${common[@]}" "${args[@]}" >"$OUT/values.json"

# Learning alone, single-threaded, alternating rounds.
configs='[{"family":"cb-adf"},{"family":"epsilon-greedy","params":{"model":"linear"}},
{"family":"epsilon-greedy","params":{"model":"disjoint"}}]'
for r in $(seq "$rounds"); do
  "$gen" learn "${common[@]}" --threads 1 --configs "$configs" | tail -n +2 >>"$OUT/learn.jsonl"
done

# End to end, alternating rounds (each round a fresh home: the import is part of the path).
for r in $(seq "$rounds"); do
  for f in cb-adf epsilon-greedy; do
    rm -rf "$OUT/e2e"
    timed "e2e-import-$f-$r" "$bin" --home "$OUT/e2e" -q dataset import --format bandit-jsonl \
      --name train "$OUT/train.jsonl" --json >/dev/null
    timed "e2e-train-$f-$r" "$bin" --home "$OUT/e2e" -q train "$OUT/$f.toml" --json >/dev/null
  done
  if [ "$want_vw" = 1 ]; then
    timed "e2e-vw-$r" "$VW" --cb_explore_adf --epsilon 0.1 -q ca --onethread --quiet \
      -d "$OUT/train.vw" -f "$OUT/vw-e2e.model"
  fi
done
rm -rf "$OUT/e2e"

# The Open Bandit Dataset check (uniform-random logs, held-out off-policy estimates).
obd=${MARQUEE_SHARED_DATA:-$(cd "$(dirname "$0")" && pwd)/../../shared/data}/open-bandit-dataset
if [ -d "$obd/random" ]; then
  for c in men women; do
    "$bin" --home "$home" -q dataset import --format obd --name "obd-$c" "$obd/random/$c/$c.csv" \
      --json >/dev/null
    for f in "${families[@]}"; do
      name=$(echo "$f" | tr ':' '-')
      sed -e "s/dataset = \"train\"/dataset = \"obd-$c\"/" -e 's/test_fraction = 0.1/test_fraction = 0.2/' \
        -e 's/estimators = \["ips"\]/estimators = ["ips", "snips", "dr"]/' \
        -e "s/name = \"$name\"/name = \"obd-$c-$name\"/" "$OUT/$name.toml" >"$OUT/obd-$c-$name.toml"
      "$bin" --home "$home" -q train "$OUT/obd-$c-$name.toml" --json >"$OUT/obd-$c-$name.json"
    done
  done
fi

python3 - "$OUT" "$rounds" "${families[@]}" <<'PY'
import json, os, statistics, sys
out, rounds, fams = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
base = json.load(open(f"{out}/baselines.json"))
vals = json.load(open(f"{out}/values.json"))
def tm(name):
    s, kb = open(f"{out}/{name}.time").read().split()[-2:]
    return float(s), int(kb) / 1024
print(f"best possible value {base['best_true_value']:.4f}, uniform logging "
      f"{base['uniform_true_value']:.4f} (test contexts)\n")
s, mb = tm("import")
print(f"import (bandit-jsonl -> snapshot): {s:.1f} s, peak RSS {mb:.0f} MB\n")
print("| policy | marquee train (s) | peak RSS (MB) | learning (decisions/s, in the job) "
      "| true value | greedy true value | IPS on test log |")
print("|---|---:|---:|---:|---:|---:|---:|")
for f in fams:
    name = f.replace(":", "-")
    r = json.load(open(f"{out}/train-{name}.json"))
    s, mb = tm(f"train-{name}")
    rows = r["split"]["train_rows"]
    rate = rows / r["timings"]["train"]
    v = vals[r["artifact"]]
    print(f"| {name} | {s:.1f} | {mb:.0f} | {rate:,.0f} | {v['true_value']:.4f} | "
          f"{v['greedy_true_value']:.4f} | {v['ips_test']:.4f} |")
try:
    s, mb = tm("vw-train")
    v = vals[f"{out}/vw.preds"]
    print(f"| Vowpal Wabbit --cb_explore_adf --epsilon 0.1 -q ca (text, end to end) | {s:.1f} | "
          f"{mb:.0f} | | {v['true_value']:.4f} | {v['greedy_true_value']:.4f} | "
          f"{v['ips_test']:.4f} |")
except FileNotFoundError:
    pass
print("\n| learner (pre-keyed rows, 1 thread) | decisions/s median | min | max | rounds |")
print("|---|---:|---:|---:|---:|")
by = {}
for line in open(f"{out}/learn.jsonl"):
    j = json.loads(line)
    key = j["config"]["family"] + " " + json.dumps(j["config"].get("params", {}))
    by.setdefault(key, []).append(j["decisions_per_second"])
for k, xs in by.items():
    print(f"| {k} | {statistics.median(xs):,.0f} | {min(xs):,.0f} | {max(xs):,.0f} | {len(xs)} |")
print("\n| end to end (1 thread) | rounds (s) | median (s) | peak RSS (MB) |")
print("|---|---|---:|---:|")
def e2e(label, names):
    secs, mbs = [], []
    for r in range(1, rounds + 1):
        parts = [tm(f"{n}-{r}") for n in names]
        secs.append(sum(p[0] for p in parts))
        mbs.append(max(p[1] for p in parts))
    print(f"| {label} | {' / '.join(f'{x:.2f}' for x in secs)} | {statistics.median(secs):.2f} "
          f"| {max(mbs):.0f} |")
for f in ("cb-adf", "epsilon-greedy"):
    e2e(f"import", [f"e2e-import-{f}"])
    e2e(f"train {f} (from the snapshot)", [f"e2e-train-{f}"])
    e2e(f"import + train {f}", [f"e2e-import-{f}", f"e2e-train-{f}"])
if os.path.exists(f"{out}/e2e-vw-1.time"):
    e2e("Vowpal Wabbit --cb_explore_adf --epsilon 0.1 -q ca (text)", ["e2e-vw"])
if os.path.exists(f"{out}/obd-men-{fams[0].replace(':', '-')}.json"):
    print("\n| OBD campaign | policy | held-out IPS | SNIPS | DR | logged CTR |")
    print("|---|---|---:|---:|---:|---:|")
    for c in ("men", "women"):
        for f in fams:
            r = json.load(open(f"{out}/obd-{c}-{f.replace(':', '-')}.json"))
            m = r["metrics"]
            print(f"| {c} | {f.replace(':', '-')} | {m['ope_ips']:.5f} | {m['ope_snips']:.5f} | "
                  f"{m['ope_dr']:.5f} | {m['logged_reward']:.5f} |")
PY
