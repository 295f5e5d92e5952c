#!/usr/bin/env bash
# ANN retrieval over HTTP (issue #18): `marquee serve --index exact` against `--index hnsw` on the
# synthetic 1,000,000-item x 128-factor iALS model of bench_ann (factors drawn from the
# distribution of iALS trained on ml-latest-small), in one run. Prints the in-process results of
# bench_ann first, then the HTTP ones.
#
#   bench/ann_wrk.sh [BUILD_DIR]     (default build/release; needs ../shared/data/movielens-latest-small)
#
# HTTP: each request is POST /v1/recommend with an anonymous history of HIST items (random
# ones, or member-like ones with HISTORIES=member; every request is folded in and ranked: no
# cache) and k = 10. For each index kind a fresh
# server is started on the same home (the HNSW graph is built while the version loads: the time
# to /readyz and the server's RSS are reported for both), then
#   recall  the top-10 of QUERIES fixed histories from each server; recall@10 of hnsw against
#           exact (same histories, same exclusions)
#   wrk     -t1 -c CONNS for DURATION with a random history per request
# Env: ITEMS (default 1000000), DIM (128), DURATION (10s), CONNS (4), SERVE_THREADS (nproc),
#      QUERIES (200), HIST (10), HISTORIES (random: HIST random items per request; member: HIST
#      of the exact top 50 of each of 200 user-like queries from bench_ann), L2_ITEMS (default 100000: the space comparison in bench_ann),
#      BUILD_THREADS (index build threads in bench_ann, default 2), HNSW_M (16),
#      HNSW_EF_CONSTRUCTION (100), HTTP_EF_SEARCH (200; the server's hnsw_ef_search),
#      HTTP_QUANTIZATION (sq8; the server's hnsw_quantization, and the graph bench_ann saves for
#      it), and what bench_ann reads (GRAPH_DIR, EF_SEARCH, ROUNDS, HUGE_AB, QUANTIZATION: e.g.
#      none,sq8 measures both graphs in process). The server's [serve] settings
#      are written to the home's marquee.toml; bench_ann saves its graph in the home, so the
#      hnsw server reads it back instead of building it (its log says which).
# Exits 77 (skip) when wrk or the data is missing. Takes /tmp/marquee-bench.lock while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
ITEMS=${ITEMS:-1000000}
DIM=${DIM:-128}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-4}
SERVE_THREADS=${SERVE_THREADS:-$(nproc)}
QUERIES=${QUERIES:-200}
HIST=${HIST:-10}
export HIST
HISTORIES=${HISTORIES:-random}
export L2_ITEMS=${L2_ITEMS:-100000}
export HNSW_M=${HNSW_M:-16} HNSW_EF_CONSTRUCTION=${HNSW_EF_CONSTRUCTION:-100}
HTTP_EF_SEARCH=${HTTP_EF_SEARCH:-200}
HTTP_QUANTIZATION=${HTTP_QUANTIZATION:-sq8}
export QUANTIZATION=${QUANTIZATION:-$HTTP_QUANTIZATION} BENCH_HTTP_QUANTIZATION=$HTTP_QUANTIZATION
command -v wrk >/dev/null || { echo "ann_wrk: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
RATINGS=$DATA/movielens-latest-small/ratings.csv
[ -f "$RATINGS" ] || { echo "ann_wrk: $RATINGS is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-ann-bench.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh
bench_lock

echo "## in-process (bench_ann $ITEMS $DIM, load: $(uptime | sed 's/.*load/load/'))"
"$BUILD/bench/bench_ann" "$ITEMS" "$DIM" "$RATINGS" "$HOME_DIR" \
  --benchmark_counters_tabular=true 2>&1 | grep -v '^\*\*\*'

mkdir -p "$HOME_DIR"
cat >"$HOME_DIR/marquee.toml" <<TOML
[serve]
hnsw_m = $HNSW_M
hnsw_ef_construction = $HNSW_EF_CONSTRUCTION
hnsw_ef_search = $HTTP_EF_SEARCH
hnsw_quantization = "$HTTP_QUANTIZATION"
TOML

# The fixed histories (recall) and the wrk script (a history per request). HISTORIES=random:
# HIST random items each; HISTORIES=member: bench_ann's member-like histories (HIST of the exact
# top 50 items of each of 200 queries drawn like the in-process ones), cycled.
if [ "$HISTORIES" = member ]; then
  cp "$HOME_DIR/member_histories.jsonl" "$OUT/histories.jsonl"
fi
python3 - "$OUT" "$ITEMS" "$QUERIES" "$HIST" "$HISTORIES" <<'PY'
import json, random, sys
out, items, queries, hist, kind = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                   int(sys.argv[4]), sys.argv[5])
rng = random.Random(7)
if kind == "member":
    pool = [json.loads(l) for l in open(f"{out}/histories.jsonl")]
else:
    pool = [[f"i{rng.randrange(items)}" for _ in range(hist)] for _ in range(queries)]
with open(f"{out}/queries.jsonl", "w") as f:
    for q in range(queries):
        f.write(json.dumps({"model": "synth-ann/1", "k": 10, "history": pool[q % len(pool)]}) + "\n")
with open(f"{out}/pool.lua", "w") as f:
    f.write("pool = {\n" + ",\n".join(
        "'" + json.dumps({"model": "synth-ann/1", "k": 10, "history": h}) + "'" for h in pool) + "}\n")
PY
if [ "$HISTORIES" = member ]; then
  cat "$OUT/pool.lua" >"$OUT/random.lua"
  cat >>"$OUT/random.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"},
    pool[(n % #pool) + 1])
end
LUA
else
  cat >"$OUT/random.lua" <<LUA
math.randomseed(42)
request = function()
  local h = {}
  for j = 1, $HIST do h[j] = '"i' .. math.random(0, $ITEMS - 1) .. '"' end
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"},
    '{"model": "synth-ann/1", "k": 10, "history": [' .. table.concat(h, ",") .. ']}')
end
LUA
fi

rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
serve_round() {  # INDEX
  local index=$1 port pid t0 t1
  port=$(free_port)
  t0=$(date +%s.%N)
  "$BIN" --home "$HOME_DIR" -q --threads "$SERVE_THREADS" serve --port "$port" \
    --model synth-ann/1 --index "$index" --poll-interval 0 2>"$OUT/serve-$index.log" &
  pid=$!
  pids+=($pid)
  for _ in $(seq 3600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$OUT/serve-$index.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "### --index $index: ready in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s, RSS $(rss_mib "$pid") MiB"
  grep -o "HNSW index of .*" "$OUT/serve-$index.log" || true
  curl -s "http://127.0.0.1:$port/v1/models" | python3 -c '
import json, sys
for m in json.load(sys.stdin)["models"]:
    print("index:", json.dumps(m.get("index", "exact")))'
  python3 - "$port" "$OUT/queries.jsonl" "$OUT/top-$index.jsonl" <<'PY'
import http.client, sys
port, queries, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
with open(out, "w") as f:
    for line in open(queries):
        c.request("POST", "/v1/recommend", body=line, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read().decode()
        assert r.status == 200, body
        f.write(body + "\n")
PY
  echo "\$ wrk -t1 -c$CONNS -d$DURATION --latency -s random.lua (load: $(uptime | sed 's/.*load/load/'))"
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$OUT/random.lua" "http://127.0.0.1:$port" \
    >"$OUT/wrk-$index.txt" 2>&1
  grep -E "Requests/sec|Non-2xx|Socket errors| 50%| 99%" "$OUT/wrk-$index.txt" || true
  awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$index.txt" >"$OUT/rps-$index"
  echo "RSS after the run: $(rss_mib "$pid") MiB"
  kill -TERM "$pid"
  wait "$pid" || true
}

echo "## HTTP (marquee serve, $SERVE_THREADS io threads; wrk 1 thread, $CONNS connections)"
serve_round exact
serve_round hnsw
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def tops(kind):
    return [[it["id"] for it in json.loads(l)["items"]] for l in open(f"{out}/top-{kind}.jsonl")]
e, h = tops("exact"), tops("hnsw")
hit = sum(len(set(a) & set(b)) for a, b in zip(e, h))
print(f"recall@10 over HTTP (hnsw against exact, {len(e)} histories): {hit / sum(len(a) for a in e):.4f}")
re, rh = float(open(f"{out}/rps-exact").read()), float(open(f"{out}/rps-hnsw").read())
print(f"throughput: exact {re:.1f} req/s, hnsw {rh:.1f} req/s: {rh / re:.1f}x")
PY
