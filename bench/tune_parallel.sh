#!/usr/bin/env bash
# Wall time of the same study (iALS on MovieLens-100K, default space, TRIALS trials, seed 1)
# with --parallel 1 and --parallel 2, alternated over ROUNDS rounds; prints each round and the
# median speed-up. Both use all the machine's threads (--parallel 2 gives each trial half).
#   bench/tune_parallel.sh [TRIALS] [ROUNDS]     (default 12 trials, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
TRIALS=${1:-12}
ROUNDS=${2:-3}
OUT=bench/out/tune_parallel
rm -rf "$OUT" && mkdir -p "$OUT"
uptime
bench/family_job.sh "$DATA/movielens-100k/u.data" 150 98765 ials >"$OUT/job.toml"
for r in $(seq "$ROUNDS"); do
  for p in 1 2; do
    start=$(date +%s.%N)
    "$BIN" --home "$OUT/home-$p-$r" -q tune "$OUT/job.toml" --trials "$TRIALS" --seed 1 \
      --parallel "$p" --json >"$OUT/p$p-$r.json"
    end=$(date +%s.%N)
    echo "round $r parallel $p: $(echo "$end - $start" | bc) s" | tee -a "$OUT/times.txt"
  done
done
/usr/bin/python3 - "$OUT/times.txt" <<'PY'
import re, statistics, sys
t = {1: [], 2: []}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ parallel (\d): ([\d.]+) s", line)
    t[int(m.group(1))].append(float(m.group(2)))
sp = [a / b for a, b in zip(t[1], t[2])]
print(f"parallel 1: median {statistics.median(t[1]):.1f} s {t[1]}")
print(f"parallel 2: median {statistics.median(t[2]):.1f} s {t[2]}")
print(f"speed-up: median {statistics.median(sp):.2f}x (min {min(sp):.2f}, max {max(sp):.2f})")
PY
