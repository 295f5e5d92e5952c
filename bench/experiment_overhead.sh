#!/usr/bin/env bash
# Serving overhead of an online experiment: wrk on loopback against `marquee serve`,
# POST /v1/recommend on the ML-100K EASE model with and without "experiment" in the same run.
# The experiment is an A/B test whose two cells both point at the same model, so the scoring cost
# is equal and the difference is the experiment's own work: the registry snapshot lookup, the
# assignment hash, the response's "experiment" field and the exposure logged (asynchronously,
# fsynced group commits) for every request. Rounds alternate plain / experiment so a drift of
# the machine hits both. Prints a markdown table for docs/BENCHMARKS.md.
#
#   bench/experiment_overhead.sh [BUILD_DIR]   (default build/release; needs ../shared/data/movielens-100k)
#
# Env: DURATION (per run, default 3s), ROUNDS (default 20), CONCURRENT_ROUNDS (default 10), CONNS (default 8), THREADS (wrk
#      threads, default 1), SERVE_THREADS (marquee io threads, default 1), INPROC_ROUNDS (rounds
#      of the in-process measurement, bench/bench_experiment_overhead.cc, default 10; it runs
#      when the build has MARQUEE_BUILD_BENCH=ON; Google Benchmark, its aggregates are
#      summarised at the end from $OUT/inproc.json).
# Exits 77 (skip) when wrk or the data set is missing. Takes /tmp/marquee-bench.lock while it
# measures.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-20}
CONCURRENT_ROUNDS=${CONCURRENT_ROUNDS:-10}
CONNS=${CONNS:-8}
THREADS=${THREADS:-1}
SERVE_THREADS=${SERVE_THREADS:-1}
command -v wrk >/dev/null || { echo "experiment_overhead: wrk is not installed" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "experiment_overhead: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-exp-bench.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh

q() { "$BIN" --home "$HOME_DIR" -q "$@"; }

# --- setup (not timed): EASE on ML-100K, an A/B experiment with both cells on it
train_ml100k_ease "$BIN" "$HOME_DIR" "$DATA"
cat >"$OUT/exp.toml" <<TOML
[experiment]
name = "bench-ab"
salt = "bench"
[[cell]]
name = "control"
model = "ml100k-ease@production"
weight = 0.5
[[cell]]
name = "treatment"
model = "ml100k-ease@production"
weight = 0.5
TOML
q experiments create "$OUT/exp.toml" >/dev/null
q experiments start bench-ab >/dev/null

bench_lock

PORT=$(free_port)
"$BIN" --home "$HOME_DIR" -q --threads "$SERVE_THREADS" serve --port "$PORT" \
  --model ml100k-ease@production --poll-interval 0 2>"$OUT/serve.log" &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }

cut -f1 "$DATA/movielens-100k/u.data" | sort -u >"$OUT/users.txt"
write_lua() {  # NAME FIELD
  recommend_lua "$OUT/$1.lua" "$OUT/users.txt" "$2"
}
write_lua plain '"model": "ml100k-ease@production"'
write_lua experiment '"experiment": "bench-ab"'
echo "sample plain:      $(curl -s -XPOST "http://127.0.0.1:$PORT/v1/recommend" -d '{"model": "ml100k-ease@production", "user": "196", "k": 3}')"
echo "sample experiment: $(curl -s -XPOST "http://127.0.0.1:$PORT/v1/recommend" -d '{"experiment": "bench-ab", "user": "196", "k": 3}')"

# warm-up (both paths), not reported
wrk -t1 -c"$CONNS" -d2s -s "$OUT/plain.lua" "http://127.0.0.1:$PORT/v1/recommend" >/dev/null
wrk -t1 -c"$CONNS" -d2s -s "$OUT/experiment.lua" "http://127.0.0.1:$PORT/v1/recommend" >/dev/null

for r in $(seq "$ROUNDS"); do
  order="plain experiment"
  [ $((r % 2)) = 0 ] && order="experiment plain"  # alternate which goes first
  for kind in $order; do
    echo "== round $r: $kind"
    echo "\$ wrk -t$THREADS -c$CONNS -d$DURATION --latency -s $kind.lua" | tee "$OUT/$kind-$r.txt"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$OUT/$kind.lua" \
      "http://127.0.0.1:$PORT/v1/recommend" | tee -a "$OUT/$kind-$r.txt"
  done
done
# Concurrent: a plain and an experiment client at the same time, CONNS/2 connections each, so
# both streams meet the same machine at every instant; the difference between their latencies is
# the experiment's own per-request work (the exposure writer's background CPU slows both streams
# alike: the sequential rounds above and the in-process process-CPU figure include it).
HALF=$(( CONNS / 2 > 0 ? CONNS / 2 : 1 ))
for r in $(seq "$CONCURRENT_ROUNDS"); do
  echo "== concurrent round $r"
  for kind in plain experiment; do
    wrk -t1 -c"$HALF" -d"$DURATION" --latency -s "$OUT/$kind.lua" \
      "http://127.0.0.1:$PORT/v1/recommend" >"$OUT/both-$kind-$r.txt" &
    pids+=($!)
  done
  wait "${pids[1]}" "${pids[2]}"
  pids=("${pids[0]}")
  grep -H "Requests/sec" "$OUT"/both-*-"$r".txt
done
bench_unlock

kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
echo
echo "analyze (exposures logged by the runs above):"
/usr/bin/time -f "  analyze: %e s wall, %M KB max RSS" "$BIN" --home "$HOME_DIR" -q experiments analyze bench-ab --json 2>"$OUT/analyze.time" |
  python3 -c 'import json,sys; a=json.load(sys.stdin); print("  exposures", a["exposures"], "members", a["members"], "srm p", a["srm"].get("p_value"))'
cat "$OUT/analyze.time"

# In-process: the handling thread's time and the process CPU per request, without sockets.
if [ -x "$BUILD/bench/bench_experiment_overhead" ] && [ "${INPROC_ROUNDS:-10}" -gt 0 ]; then
  bench_lock
  echo
  echo "\$ bench_experiment_overhead HOME ml100k-ease@production bench-ab users.txt ${INPROC_ROUNDS:-10} 20000"
  "$BUILD/bench/bench_experiment_overhead" "$HOME_DIR" ml100k-ease@production bench-ab \
    "$OUT/users.txt" "${INPROC_ROUNDS:-10}" 20000 --benchmark_out="$OUT/inproc.json" \
    --benchmark_out_format=json
  bench_unlock
fi

python3 - "$OUT" "$ROUNDS" "$CONCURRENT_ROUNDS" <<'PY'
import re, sys
out, rounds, crounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
def parse(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    avg = ms(re.search(r"Latency\s+(\S+)", t).group(1))
    p50 = ms(re.search(r"\n\s+50%\s+(\S+)", t).group(1))
    p99 = ms(re.search(r"\n\s+99%\s+(\S+)", t).group(1))
    return rps, avg, p50, p99
res = {k: [parse(f"{out}/{k}-{r}.txt") for r in range(1, rounds + 1)] for k in ("plain", "experiment")}
print()
print(f"| request | round | req/s | mean latency ms | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|")
for k in ("plain", "experiment"):
    for i, (rps, avg, p50, p99) in enumerate(res[k], 1):
        print(f"| {k} | {i} | {rps:.0f} | {avg:.3f} | {p50:.3f} | {p99:.3f} |")
def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
def mean(k, j):  # the median over rounds: robust to a round hit by other load on the machine
    return median([x[j] for x in res[k]])
# Each round runs plain and experiment back to back (order alternating), so the ratio within a
# round cancels the machine's drift, which on this VM moves plain throughput by +-25% over tens
# of seconds; the median of the per-round ratios is the headline figure.
def ratios(j):
    return sorted(e[j] / p[j] for p, e in zip(res["plain"], res["experiment"]))
def quartiles(v):
    return v[len(v) // 4], v[(3 * len(v)) // 4]
print()
for label, j in (("mean latency", 1), ("p50 latency", 2), ("throughput", 0)):
    r = ratios(j)
    q1, q3 = quartiles(r)
    print(f"per-round ratio, {label}: median {100 * (median(r) - 1):+.1f}% "
          f"(quartiles {100 * (q1 - 1):+.1f}% .. {100 * (q3 - 1):+.1f}%, {len(r)} rounds)")
if crounds:
    both = {k: [parse(f"{out}/both-{k}-{r}.txt") for r in range(1, crounds + 1)]
            for k in ("plain", "experiment")}
    print()
    print("| concurrent round | plain req/s | experiment req/s | plain mean ms | experiment mean ms | plain p50 ms | experiment p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for i in range(crounds):
        p, e = both["plain"][i], both["experiment"][i]
        print(f"| {i + 1} | {p[0]:.0f} | {e[0]:.0f} | {p[1]:.3f} | {e[1]:.3f} | {p[2]:.3f} | {e[2]:.3f} |")
    print()
    for label, j in (("mean latency", 1), ("p50 latency", 2), ("throughput", 0)):
        r = sorted(e[j] / p[j] for p, e in zip(both["plain"], both["experiment"]))
        q1, q3 = quartiles(r)
        print(f"concurrent streams, experiment / plain {label}: median {100 * (median(r) - 1):+.1f}% "
              f"(quartiles {100 * (q1 - 1):+.1f}% .. {100 * (q3 - 1):+.1f}%, {len(r)} rounds)")
print(f"median-of-rounds mean latency: plain {mean('plain', 1):.3f} ms, experiment {mean('experiment', 1):.3f} ms; "
      f"throughput: plain {mean('plain', 0):.0f} req/s, experiment {mean('experiment', 0):.0f} req/s")
PY

# The in-process summary: medians over the rounds of bench_experiment_overhead's counters.
if [ -s "$OUT/inproc.json" ]; then
  python3 - "$OUT/inproc.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
def agg(name, stat):
    # run_name carries Google Benchmark's suffixes ("/iterations:1/repeats:10/real_time")
    return next(b for b in runs if b["run_name"].split("/iterations:")[0] == name
                and b.get("aggregate_name") == stat)
med, mn = agg("handle_plain_and_experiment", "median"), agg("handle_plain_and_experiment", "min")
own, own_min = agg("experiment_own_work", "median"), agg("experiment_own_work", "min")
print()
print("| in-process, per request (median of rounds) | plain | experiment | overhead (of the medians) | overhead (median of per-round ratios) |")
print("|---|---|---|---|---|")
for label, key, ratio in (("handling thread CPU us", "thread_cpu_us", "thread_cpu_overhead"),
                          ("process CPU us", "process_cpu_us", "process_cpu_overhead"),
                          ("wall us", "wall_us", "wall_overhead")):
    p, e = med[f"plain_{key}"], med[f"experiment_{key}"]
    print(f"| {label} | {p:.2f} | {e:.2f} | {100 * (e / p - 1):+.1f}% | {100 * med[ratio]:+.1f}% |")
print(f"min handling-thread CPU: plain {mn['plain_thread_cpu_us']:.2f} us, experiment "
      f"{mn['experiment_thread_cpu_us']:.2f} us ({100 * (mn['experiment_thread_cpu_us'] / mn['plain_thread_cpu_us'] - 1):+.1f}%)")
print(f"experiment's own work (router minus the plain Rank + response, handling-thread CPU): "
      f"median {own['own_work_us']:.2f} us/req, min {own_min['own_work_us']:.2f} us/req = "
      f"{100 * own['own_work_us'] / med['plain_thread_cpu_us']:.1f}% of the median plain request")
PY
fi
