#!/usr/bin/env bash
# Serving overhead of shadow scoring (issue #17): wrk on loopback against `marquee serve`,
# POST /v1/recommend on the ML-100K EASE model (production v1) while a candidate (a second EASE
# version, the same cost to score) is shadowed at sample 0 (no shadow), 0.1 and 1.0, all in the
# same run, set between runs through the shadow API. Rounds rotate the order so a drift of the
# machine hits every setting. The shadow worker scores off the request thread with a bounded
# queue (full: dropped and counted), so at sample 1.0 under saturation most shadowed requests
# are dropped: the table reports the drops beside the latency.
#
#   bench/shadow_overhead.sh [BUILD_DIR]   (default build/release; needs ../shared/data/movielens-100k)
#
# Env: DURATION (per run, default 3s), ROUNDS (default 6), CONNS (default 8), THREADS (wrk
#      threads, default 1), SERVE_THREADS (marquee io threads, default 1).
# Exits 77 (skip) when wrk or the data set is missing. Takes /tmp/marquee-bench.lock while it
# measures. Prints a markdown table for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-6}
CONNS=${CONNS:-8}
THREADS=${THREADS:-1}
SERVE_THREADS=${SERVE_THREADS:-1}
command -v wrk >/dev/null || { echo "shadow_overhead: wrk is not installed" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "shadow_overhead: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-shadow-bench.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh

q() { "$BIN" --home "$HOME_DIR" -q "$@"; }

# --- setup (not timed): EASE on ML-100K as v1 (production) and again as v2 (the candidate)
train_ml100k_ease "$BIN" "$HOME_DIR" "$DATA"
q train "$OUT/ease.toml" >/dev/null

bench_lock
PORT=$(free_port)
"$BIN" --home "$HOME_DIR" -q --threads "$SERVE_THREADS" serve --port "$PORT" \
  --model ml100k-ease@production --poll-interval 0 2>"$OUT/serve.log" &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }

cut -f1 "$DATA/movielens-100k/u.data" | sort -u >"$OUT/users.txt"
recommend_lua "$OUT/rec.lua" "$OUT/users.txt" '"model": "ml100k-ease@production"'
api="http://127.0.0.1:$PORT/api/v1/models/ml100k-ease/shadow"
set_sample() {  # SAMPLE (0: off)
  if [ "$1" = 0 ]; then
    curl -s -XDELETE "$api" >/dev/null
  else
    curl -sf -XPOST "$api" -d "{\"version\": 2, \"sample\": $1}" >/dev/null
  fi
}
# This replica's shadow counters "offered dropped scored" ("-1 -1 -1" when the answer has none:
# the run's counts are then reported as n/a, the latencies still are).
counters() {
  curl -s "$api" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["replica"]
    print(r["offered"], r["dropped"], r["scored"])
except Exception as e:
    print("shadow_overhead: no counters:", repr(e), file=sys.stderr)
    print(-1, -1, -1)'
}

wrk -t1 -c"$CONNS" -d2s -s "$OUT/rec.lua" "http://127.0.0.1:$PORT/v1/recommend" >/dev/null  # warm-up
uptime | tee "$OUT/uptime.txt"
settings=(0 0.1 1.0)
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    s=${settings[$(( (i + r) % 3 ))]}
    set_sample "$s"
    before=$(counters)
    echo "== round $r: sample $s"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$OUT/rec.lua" \
      "http://127.0.0.1:$PORT/v1/recommend" >"$OUT/s$s-$r.txt"
    after=$(counters)
    echo "$before $after" >"$OUT/s$s-$r.counters"
    grep -E "Requests/sec| 50%| 99%" "$OUT/s$s-$r.txt"
  done
done
set_sample 0
bench_unlock
uptime | tee -a "$OUT/uptime.txt"

python3 - "$OUT" "$ROUNDS" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
def parse(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = ms(re.search(r"\n\s+50%\s+(\S+)", t).group(1))
    p99 = ms(re.search(r"\n\s+99%\s+(\S+)", t).group(1))
    return rps, p50, p99
print("\n| shadow sample | req/s median (min-max) | p50 ms median (min-max) | p99 ms median (min-max) | shadowed / offered / dropped (all rounds) |")
print("|---|---|---|---|---|")
for s in ["0", "0.1", "1.0"]:
    rows = [parse(f"{out}/s{s}-{r}.txt") for r in range(1, rounds + 1)]
    off = drop = scored = 0
    for r in range(1, rounds + 1):
        a = list(map(int, open(f"{out}/s{s}-{r}.counters").read().split()))
        if min(a) < 0:
            off = drop = scored = "n/a"
            break
        off += a[3] - a[0]; drop += a[4] - a[1]; scored += a[5] - a[2]
    def col(i, fmt):
        v = [x[i] for x in rows]
        return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"
    print(f"| {s} | {col(0, '{:.0f}')} | {col(1, '{:.2f}')} | {col(2, '{:.2f}')} | {scored} / {off} / {drop} |")
PY
