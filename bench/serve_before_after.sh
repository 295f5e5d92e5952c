#!/usr/bin/env bash
# Before/after of `marquee serve` under HTTP load for two builds: bench/serve_wrk.sh (one round
# each: cache-only, mixed, nginx, fold-in, events) run against OLD and NEW in alternating
# rounds (old, new, new, old, old, new, ...: the order flips every round, so neither build
# always goes first on a warming machine). Prints, per row, the median req/s and p99 over the
# rounds with [min-max] for each build, and the ratio of the medians; then the cache-only and
# mixed req/s as a share of nginx's in the same run.
#
#   bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR
#       (build dirs holding tools/marquee/marquee, e.g. /tmp/before/build/release build/release)
#
# Env: ROUNDS (default 3 per build), DURATION (wrk -d per run, default 5s), and every knob of
# serve_wrk.sh (CONNS, THREADS, SERVE_THREADS, PIN, ...); SKIP_IALS defaults to 1 here (set
# SKIP_IALS=0 to include the 100k-item iALS row: slow). Exits 77 when serve_wrk.sh skips.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
OLD=$(cd "${1:?usage: bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
NEW=$(cd "${2:?usage: bench/serve_before_after.sh OLD_BUILD_DIR NEW_BUILD_DIR}" && pwd)
ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-5s} SKIP_IALS=${SKIP_IALS:-1}
OUT=$(mktemp -d /tmp/marquee-serve-before-after.XXXXXX)
source "$BENCH/lib.sh"  # cleans OUT up on exit

for r in $(seq 1 "$ROUNDS"); do
  order=(old new)
  [ $((r % 2)) = 0 ] && order=(new old)
  for which in "${order[@]}"; do
    dir=$OLD
    [ "$which" = new ] && dir=$NEW
    echo "== round $r: $which ($dir)" >&2
    rc=0
    ROUNDS=1 "$BENCH/serve_wrk.sh" "$dir" >"$OUT/$which-$r.txt" 2>"$OUT/$which-$r.err" || rc=$?
    if [ "$rc" != 0 ]; then
      cat "$OUT/$which-$r.err" >&2
      exit "$rc"
    fi
  done
done

python3 - "$OUT" "$ROUNDS" "$OLD" "$NEW" <<'PY'
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
print(f"old: {old}\nnew: {new}\n{rounds} alternating rounds per build: median [min-max]\n")
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
PY
