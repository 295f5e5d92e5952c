#!/usr/bin/env bash
# Three `marquee serve` replicas behind nginx (configured by `marquee deploy nginx`) against one
# replica asked directly, in the same run: scripts/cluster starts PostgreSQL, Redis, the replicas
# and nginx on loopback; EASE on ML-100K is trained from the cluster's trainer home and promoted;
# wrk posts /v1/recommend for random members, alternating direct and through-nginx rounds.
# On a machine with few cores the three replicas, nginx and wrk share the same cores: this
# measures nginx's overhead (and the cost of the extra processes), not scaling.
#
#   bench/cluster_nginx.sh [BUILD_DIR]   (default build/release; needs ../shared/data/movielens-100k)
#
# Env: DURATION (default 10s), CONNS (default 32), THREADS (wrk threads, default 2), ROUNDS
# (default 5). Exits 77 (skip) when wrk, nginx, Redis or PostgreSQL is missing. Takes
# /tmp/marquee-bench.lock while it runs. Prints a markdown section for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$(pwd)/$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
command -v wrk >/dev/null || { echo "cluster_nginx: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "cluster_nginx: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }
why=$(python3 -c 'import importlib.machinery as m, importlib.util as u
loader = m.SourceFileLoader("cluster", "scripts/cluster")
c = u.module_from_spec(u.spec_from_loader("cluster", loader))
loader.exec_module(c)
print(c.missing() or "")')
[ -z "$why" ] || { echo "cluster_nginx: $why" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-cluster-bench.XXXXXX)
chmod 755 "$OUT"  # PostgreSQL runs as `postgres` under it
source bench/lib.sh
CLUSTER=$OUT/cluster
cluster_down() { scripts/cluster down --dir "$CLUSTER" >/dev/null 2>&1 || true; bench_cleanup; }
trap cluster_down EXIT
bench_lock

scripts/cluster up --replicas 3 --dir "$CLUSTER" --marquee "$BIN" \
  --model 'ml100k-ease@production?' >"$OUT/up.txt"
cat "$OUT/up.txt"
TRAINER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trainer_home"])' "$CLUSTER/cluster.json")
NGINX_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nginx"]["url"])' "$CLUSTER/cluster.json")
mapfile -t REPLICAS < <(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["replicas"]: print(r["url"])' "$CLUSTER/cluster.json")
train_ml100k_ease "$BIN" "$TRAINER" "$DATA"
body='{"model": "ml100k-ease@production", "user": "196", "k": 10}'
for url in "${REPLICAS[@]}"; do
  for _ in $(seq 100); do
    curl -sf -XPOST "$url/v1/recommend" -d "$body" >/dev/null && break
    sleep 0.1
  done
  curl -sf -XPOST "$url/v1/recommend" -d "$body" >/dev/null || { echo "cluster_nginx: $url does not serve" >&2; exit 1; }
done

cut -f1 "$DATA/movielens-100k/u.data" | sort -u >"$OUT/users.txt"
recommend_lua "$OUT/recommend.lua" "$OUT/users.txt" '"model": "ml100k-ease@production"'
run_wrk() {  # LABEL URL
  echo "\$ wrk -t$THREADS -c$CONNS -d$DURATION --latency -s recommend.lua $2/v1/recommend" >"$OUT/$1.txt"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$OUT/recommend.lua" "$2/v1/recommend" >>"$OUT/$1.txt" 2>&1
  if grep -q "Non-2xx\|Socket errors" "$OUT/$1.txt"; then
    echo "cluster_nginx: errors in $1:" >&2
    cat "$OUT/$1.txt" >&2
    exit 1
  fi
}
load_before=$(uptime)
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="direct nginx"; else order="nginx direct"; fi
  for what in $order; do
    if [ "$what" = direct ]; then run_wrk "direct-$r" "${REPLICAS[0]}"; else run_wrk "nginx-$r" "$NGINX_URL"; fi
    echo "round $r $what: $(awk '/Requests\/sec/ {print $2}' "$OUT/$what-$r.txt") req/s"
  done
done
load_after=$(uptime)

python3 - "$OUT" "$ROUNDS" "$DURATION" "$CONNS" "$THREADS" "$load_before" "$load_after" <<'PY'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def parse(label):
    t = open(f"{out}/{label}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    def ms(q):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        v = float(m.group(1))
        return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
    return rps, ms(50), ms(99)
res = {w: [parse(f"{w}-{r}") for r in range(1, rounds + 1)] for w in ("direct", "nginx")}
def spread(xs, f):
    return f"{f(statistics.median(xs))} [{f(min(xs))}-{f(max(xs))}]"
print(f"\n### Three replicas through nginx against one replica direct (bench/cluster_nginx.sh)\n")
print(f"/v1/recommend, EASE on ML-100K, random members; wrk -t{sys.argv[5]} -c{sys.argv[4]} "
      f"-d{sys.argv[3]}, {rounds} alternating rounds, median [min-max]. Load before: "
      f"`{sys.argv[6].strip()}`; after: `{sys.argv[7].strip()}`.\n")
print("| topology | req/s | p50 ms | p99 ms |")
print("|---|---|---|---|")
for w, name in (("direct", "1 replica, direct"), ("nginx", "3 replicas behind nginx")):
    x = res[w]
    print(f"| {name} | {spread([a[0] for a in x], lambda v: f'{v:,.0f}')} | "
          f"{spread([a[1] for a in x], lambda v: f'{v:.2f}')} | "
          f"{spread([a[2] for a in x], lambda v: f'{v:.2f}')} |")
ratio = [n[0] / d[0] for n, d in zip(res["nginx"], res["direct"])]
print(f"\nnginx/direct throughput per round: {', '.join(f'{r:.2f}' for r in ratio)} "
      f"(median {statistics.median(ratio):.2f}).")
PY
