#!/usr/bin/env bash
# Before/after of `marquee serve` under HTTP load for two builds: bench/serve_wrk.sh (one round
# each: cache-only, mixed, nginx, fold-in, events) run against OLD and NEW in alternating
# rounds (old, new, new, old, old, new, ...: the order flips every round, so neither build
# always goes first on a warming machine). Prints, per row, the median req/s and p99 over the
# rounds with [min-max] for each build, and the ratio of the medians; then the cache-only and
# mixed req/s as a share of nginx's in the same run. When both builds have
# bench/bench_experiment_overhead, also Service::Rank + response in process (no sockets, so far
# less noise): its plain_us counter (handling-thread CPU per known-user /v1/recommend on
# ML-100K EASE), INPROC_ROUNDS alternating runs per build (default 6; 0 skips), medians.
#
#   bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR
#       (build dirs holding tools/marquee/marquee, e.g. /tmp/before/build/release build/release)
#
# Env: ROUNDS (default 3 per build; 0: in process only), DURATION (wrk -d per run, default 5s),
# and every knob of serve_wrk.sh (CONNS, THREADS, SERVE_THREADS, PIN, ...); SKIP_IALS defaults
# to 1 here (SKIP_IALS=0 includes the 100k-item iALS row: slow). Exits as serve_wrk.sh does
# when it skips (77).
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
OLD=$(cd "${1:?usage: bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
NEW=$(cd "${2:?usage: bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-5s} SKIP_IALS=${SKIP_IALS:-1}
OUT=$(mktemp -d /tmp/marquee-serve-before-after.XXXXXX)
source "$BENCH/lib.sh"  # cleans OUT up on exit

# alternate N FN: FN WHICH DIR ROUND for rounds 1..N, old then new, the order flipping each round.
alternate() {
  local r which
  for r in $(seq 1 "$1"); do
    local order=(old new)
    [ $((r % 2)) = 0 ] && order=(new old)
    for which in "${order[@]}"; do
      if [ "$which" = new ]; then "$2" new "$NEW" "$r"; else "$2" old "$OLD" "$r"; fi
    done
  done
}

wrk_run() {  # WHICH DIR ROUND
  echo "== round $3: $1 ($2)" >&2
  local rc=0
  ROUNDS=1 "$BENCH/serve_wrk.sh" "$2" >"$OUT/$1-$3.txt" 2>"$OUT/$1-$3.err" || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$OUT/$1-$3.err" >&2
    exit "$rc"
  fi
}
alternate "$ROUNDS" wrk_run

INPROC_ROUNDS=${INPROC_ROUNDS:-6}
if [ "$INPROC_ROUNDS" -gt 0 ] && [ -x "$OLD/bench/bench_experiment_overhead" ] &&
  [ -x "$NEW/bench/bench_experiment_overhead" ]; then
  DATA=${MARQUEE_SHARED_DATA:-$(cd "$BENCH/../.." && pwd)/shared/data}
  home=$OUT/home
  train_ml100k_ease "$NEW/tools/marquee/marquee" "$home" "$DATA"
  printf '[experiment]\nname = "bench-ab"\nsalt = "bench"\n' >"$OUT/exp.toml"
  for cell in control treatment; do
    printf '[[cell]]\nname = "%s"\nmodel = "ml100k-ease@production"\nweight = 0.5\n' "$cell" >>"$OUT/exp.toml"
  done
  "$NEW/tools/marquee/marquee" --home "$home" -q experiments create "$OUT/exp.toml" >/dev/null
  "$NEW/tools/marquee/marquee" --home "$home" -q experiments start bench-ab >/dev/null
  cut -f1 "$DATA/movielens-100k/u.data" | sort -u >"$OUT/users.txt"
  inproc_run() {  # WHICH DIR ROUND
    echo "== in-process round $3: $1" >&2
    "$2/bench/bench_experiment_overhead" "$home" ml100k-ease@production bench-ab \
      "$OUT/users.txt" 5 20000 --benchmark_filter=experiment_own_work 2>&1 |
      awk '/real_time_median/ {for (i = 1; i <= NF; i++) if ($i ~ /^plain_us=/) print substr($i, 10)}' \
        >"$OUT/inproc-$1-$3.txt"
  }
  alternate "$INPROC_ROUNDS" inproc_run
fi

python3 - "$OUT" "$ROUNDS" "$OLD" "$NEW" "$INPROC_ROUNDS" <<'PY'
import glob, re, statistics, sys
out, rounds, old, new = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def num(cell):  # "12,345 [..]" or "3.60 ms [..]" or "253 (x1000 events/s)": the first number
    return float(re.match(r"\s*([\d,.]+)", cell).group(1).replace(",", ""))
def rows(path):  # row name -> (req/s, p99 ms) from serve_wrk.sh's markdown tables
    res = {}
    for line in open(path):
        if not line.startswith("| ") or line.startswith("| workload") or line.startswith("| server"):
            continue
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if c[0] == "marquee":
            name = "events" if "events" in c[1] else "fold-in" if "fold-in" in c[2] else "ials"
            res[name] = (num(c[4]), num(c[5]))
        else:  # cache-only and mixed also carry their ratio to nginx in the same round
            res[c[0].split(":")[0]] = (num(c[2]), num(c[3]), num(c[5]) if c[5] != "-" else None)
    return res
runs = {w: [rows(f"{out}/{w}-{r}.txt") for r in range(1, rounds + 1)] for w in ("old", "new")}
def spread(xs, fmt):
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}-{fmt(max(xs))}]"
n = lambda x: f"{x:,.0f}"
ms = lambda x: f"{x:.2f} ms"
print(f"old: {old}\nnew: {new}")
if rounds:  # ROUNDS=0: the in-process comparison only
    print(f"\n{rounds} alternating rounds per build: median [min-max]\n")
    print("| row | req/s old | req/s new | new/old | p99 old | p99 new | new/old |")
    print("|---|---|---|---|---|---|---|")
    for name in runs["old"][0]:
        o = [x[name] for x in runs["old"]]
        w = [x[name] for x in runs["new"]]
        ro = statistics.median(x[0] for x in w) / statistics.median(x[0] for x in o)
        po = statistics.median(x[1] for x in w) / statistics.median(x[1] for x in o)
        print(f"| {name} | {spread([x[0] for x in o], n)} | {spread([x[0] for x in w], n)} | {ro:.2f} | "
              f"{spread([x[1] for x in o], ms)} | {spread([x[1] for x in w], ms)} | {po:.2f} |")
    print("\nreq/s as a share of nginx's in the same run (cancels some of the machine's drift):\n")
    print("| row | old | new | new/old |")
    print("|---|---|---|---|")
    r2 = lambda x: f"{x:.2f}"
    for name in ("cache-only", "mixed"):
        o = [x[name][2] for x in runs["old"]]
        w = [x[name][2] for x in runs["new"]]
        print(f"| {name} | {spread(o, r2)} | {spread(w, r2)} | {statistics.median(w) / statistics.median(o):.2f} |")
inproc = {w: [float(open(f).read()) for f in sorted(glob.glob(f"{out}/inproc-{w}-*.txt"))
              if open(f).read().strip()] for w in ("old", "new")}
if inproc["old"] and inproc["new"]:
    us = lambda x: f"{x:.2f} us"
    print(f"\nIn process, Service::Rank + response for a known user (plain_us of "
          f"bench_experiment_overhead, median of 5 x 20,000 requests per run), "
          f"{sys.argv[5]} alternating runs per build:\n")
    print(f"old {spread(inproc['old'], us)}, new {spread(inproc['new'], us)}, new/old "
          f"{statistics.median(inproc['new']) / statistics.median(inproc['old']):.2f}")
PY
