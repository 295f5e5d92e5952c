#!/usr/bin/env bash
# Before/after of the fold-in path of `marquee serve` alone: every ML-100K member's full row sent
# as an anonymous history to /v1/recommend (EASE, scored per request), against two builds in
# alternating rounds on one home. The server gets CPU 0 and 1 io thread, wrk (1 thread, 8
# connections) CPU 1, so the two never compete for a core; each round is a 2 s warm-up and a
# measured run. Prints each run's req/s, then the medians [min-max] and new/old. Use it when
# serve_before_after.sh's fold-in row (one run per build per round, after the other rows) is
# too noisy to judge.
#
#   bench/foldin_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR
#
# Env: ROUNDS (default 5), DURATION (default 6s). Exits 77 (skip) when wrk or the data is missing.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
OLD=$(cd "${1:?usage: bench/foldin_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
NEW=$(cd "${2:?usage: bench/foldin_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
DATA=${MARQUEE_SHARED_DATA:-$BENCH/../../shared/data}
command -v wrk >/dev/null || { echo "foldin_before_after: wrk is not installed" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "foldin_before_after: no $DATA/movielens-100k" >&2; exit 77; }
OUT=$(mktemp -d /tmp/marquee-foldin.XXXXXX)
source "$BENCH/lib.sh"  # cleans OUT up on exit
bench_lock
train_ml100k_ease "$NEW/tools/marquee/marquee" "$OUT/home" "$DATA" >/dev/null 2>&1
/usr/bin/python3 - "$DATA/movielens-100k/u.data" "$OUT" <<'PY'
import collections, json, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    u, i, _, _ = line.split("\t")
    rows[u].append(i)
def lua(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
with open(f"{sys.argv[2]}/fold.lua", "w") as f:
    f.write("local bodies = {}\n")
    for u in sorted(rows, key=int):
        body = json.dumps({"model": "ml100k-ease@production", "history": rows[u], "k": 10})
        f.write("bodies[#bodies + 1] = " + lua(body) + "\n")
    f.write("math.randomseed(42)\nrequest = function()\n  return wrk.format('POST', "
            "'/v1/recommend', {['Content-Type'] = 'application/json'}, bodies[math.random(#bodies)])"
            "\nend\n")
PY
for r in $(seq 1 "$ROUNDS"); do
  order="old new"
  [ $((r % 2)) = 0 ] && order="new old"
  for which in $order; do
    dir=$OLD
    [ "$which" = new ] && dir=$NEW
    rm -f "$OUT/port"
    taskset -c 0 "$dir/tools/marquee/marquee" --home "$OUT/home" -q --threads 1 serve --port 0 \
      --port-file "$OUT/port" --model ml100k-ease@production >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 300); do
      [ -s "$OUT/port" ] && curl -sf "127.0.0.1:$(cat "$OUT/port")/readyz" >/dev/null && break
      sleep 0.1
    done
    url="http://127.0.0.1:$(cat "$OUT/port")/v1/recommend"
    taskset -c 1 wrk -t1 -c8 -d2s -s "$OUT/fold.lua" "$url" >/dev/null
    rps=$(taskset -c 1 wrk -t1 -c8 -d"$DURATION" -s "$OUT/fold.lua" "$url" |
      awk '/Requests\/sec/ {print $2}')
    echo "$r $which $rps" | tee -a "$OUT/runs.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
/usr/bin/python3 - "$OUT/runs.txt" <<'PY'
import statistics, sys
runs = {"old": [], "new": []}
for line in open(sys.argv[1]):
    _, which, rps = line.split()
    runs[which].append(float(rps))
med = {k: statistics.median(v) for k, v in runs.items()}
for k in ("old", "new"):
    print(f"{k}: median {med[k]:,.0f} req/s [{min(runs[k]):,.0f}-{max(runs[k]):,.0f}]")
print(f"new/old: {med['new'] / med['old']:.2f}")
PY
