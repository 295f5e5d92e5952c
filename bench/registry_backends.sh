#!/usr/bin/env bash
# The registry on PostgreSQL against SQLite, in one run (issue #16): bench_registry (10,000 runs
# of 20 metrics recorded as `marquee train` records them, then runs list / compare / filters
# in-process and through the binary, and remote-tracking metric logging) once per backend per
# round, the backends alternating so a drift of the machine hits both. PostgreSQL is a throwaway
# server on a free loopback port (initdb and pg_ctl run as the `postgres` user when this runs as
# root), a fresh database per round, default settings apart from the port (fsync on: the numbers
# include its commits' fsyncs, as SQLite's do in WAL mode with synchronous=NORMAL... which syncs
# only at checkpoints: say so when quoting them). Prints one markdown table of medians (and the
# spread over rounds) per benchmark row.
#
#   bench/registry_backends.sh [BUILD_DIR]    (default build/release; needs MARQUEE_BUILD_BENCH)
#
# Env: ROUNDS (default 3), RUNS (default 10000), REPS (per query row, default 10).
# Exits 77 (skip) when PostgreSQL or the benchmark binary is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BENCH=$BUILD/bench/bench_registry
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-10000}
REPS=${REPS:-10}
[ -x "$BENCH" ] || { echo "registry_backends: no $BENCH (configure with MARQUEE_BUILD_BENCH=ON)" >&2; exit 77; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || { echo "registry_backends: PostgreSQL is not installed" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-registry-backends.XXXXXX)
source bench/lib.sh
AS=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$OUT"
  AS=(runuser -u postgres --)
fi
PORT=$(free_port)
"${AS[@]}" "$PGBIN/initdb" -D "$OUT/pg" -U postgres --auth=trust -E UTF8 --locale=C >"$OUT/initdb.log" 2>&1
"${AS[@]}" "$PGBIN/pg_ctl" -D "$OUT/pg" -l "$OUT/pg.log" -w \
  -o "-p $PORT -k $OUT -c listen_addresses=127.0.0.1" start >/dev/null
PGPID=$(head -1 "$OUT/pg/postmaster.pid")
stop_pg() { kill -INT "$PGPID" 2>/dev/null || true; while kill -0 "$PGPID" 2>/dev/null; do sleep 0.2; done; }
trap 'stop_pg; bench_cleanup' EXIT

echo "load before: $(uptime)" >&2
for round in $(seq 1 "$ROUNDS"); do
  for backend in sqlite postgresql; do
    if [ "$backend" = postgresql ]; then
      "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE r$round" >/dev/null
      url="postgresql://postgres@127.0.0.1:$PORT/r$round"
    else
      url="sqlite://$OUT/registry-$round.db"  # beside the home, which bench_registry recreates
    fi
    echo "round $round: $backend" >&2
    "$BENCH" --runs "$RUNS" --reps "$REPS" --log-reps 1 --registry "$url" \
      --home "$OUT/home-$round-$backend" --benchmark_format=json \
      --benchmark_out="$OUT/$backend-$round.json" --benchmark_out_format=json >/dev/null
  done
done
echo "load after: $(uptime)" >&2

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for backend in ("sqlite", "postgresql"):
    for r in range(1, rounds + 1):
        for b in json.load(open(f"{out}/{backend}-{r}.json"))["benchmarks"]:
            name = b["run_name"] if "run_name" in b else b["name"]
            agg = b.get("aggregate_name", "")
            if agg not in ("", "median"):
                continue
            if b["name"].startswith("record_runs"):
                value, unit = b["runs_per_s"], "runs/s"
            elif b["name"].startswith("tracking/"):
                value, unit = b["points_per_s"], "points/s"
            else:
                value, unit = b["real_time"], b.get("time_unit", "ms")
            rows.setdefault((name, unit), {}).setdefault(backend, []).append(value)
print("| row | unit | SQLite median (min-max) | PostgreSQL median (min-max) | PG / SQLite |")
print("|---|---|---|---|---|")
for (name, unit), v in rows.items():
    s, p = v.get("sqlite", []), v.get("postgresql", [])
    if not s or not p:
        continue
    fmt = lambda xs: f"{statistics.median(xs):.3g} ({min(xs):.3g}-{max(xs):.3g})"
    print(f"| {name} | {unit} | {fmt(s)} | {fmt(p)} | {statistics.median(p) / statistics.median(s):.2f} |")
PY
