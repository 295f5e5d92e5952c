#!/usr/bin/env bash
# Load benchmark of `marquee serve` with wrk on loopback, against nginx serving a static file of
# the same size as a /v1/recommend response (the ceiling of this machine's HTTP stack), in the
# same run. Prints a markdown section for docs/BENCHMARKS.md.
#
#   bench/serve_wrk.sh [BUILD_DIR]     (default build/release; needs ../shared/data/movielens-100k)
#
# Env: DURATION (default 10s), CONNS (default 32), THREADS (wrk threads, default 2),
#      SERVE_THREADS (marquee io threads and nginx workers, default nproc), SKIP_IALS=1 to skip
#      the 100k catalogue, PIN=1 to give the server (marquee or nginx, 1 thread / worker) CPU 0
#      and wrk (1 thread) CPU 1, so client and server never compete for a core.
# Exits 77 (skip) when wrk or nginx is missing. Takes /tmp/marquee-bench.lock while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SERVE_THREADS=${SERVE_THREADS:-$(nproc)}
SRV_PIN=()
CLI_PIN=()
if [ "${PIN:-0}" = 1 ]; then
  SERVE_THREADS=1 THREADS=1 SRV_PIN=(taskset -c 0) CLI_PIN=(taskset -c 1)
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "serve_wrk: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
[ -x "$NGINX" ] || { echo "serve_wrk: nginx is not installed (apt-get install nginx-light)" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "serve_wrk: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-serve-bench.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh
bench_lock

q() { "$BIN" --home "$HOME_DIR" -q "$@"; }

# --- models: EASE on ML-100K; iALS (128 factors) on a synthetic 100k-item catalogue
train_ml100k_ease "$BIN" "$HOME_DIR" "$DATA"
models=(--model ml100k-ease@production)
if [ "${SKIP_IALS:-0}" != 1 ]; then
  q dataset generate --name synth100k --users 20000 --items 100000 --interactions 1000000 >/dev/null
  cat >"$OUT/ials.toml" <<TOML
[data]
dataset = "synth100k"
[split]
test_users = 100
refit = false
[model]
family = "ials"
name = "synth-ials"
factors = 128
iterations = 2
[eval]
metrics = ["recall@20"]
TOML
  q train "$OUT/ials.toml" >/dev/null
  q models promote synth-ials/1 --alias production >/dev/null
  models+=(--model synth-ials@production)
fi

PORT=$(free_port)
"${SRV_PIN[@]}" "$BIN" --home "$HOME_DIR" -q --threads "$SERVE_THREADS" serve --port "$PORT" "${models[@]}" \
  --poll-interval 0 2>"$OUT/serve.log" &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }

# wrk script: POST /v1/recommend for a user drawn per request from the model's training users.
write_lua() {  # MODEL USERS_FILE
  cat >"$OUT/$1.lua" <<LUA
local users = {}
for line in io.lines("$2") do users[#users + 1] = line end
math.randomseed(42)
request = function()
  local u = users[math.random(#users)]
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"},
    '{"model": "$1@production", "user": "' .. u .. '", "k": 10}')
end
LUA
}
cut -f1 "$DATA/movielens-100k/u.data" | sort -u >"$OUT/ml-users.txt"
write_lua ml100k-ease "$OUT/ml-users.txt"
sample=$(curl -s -XPOST "http://127.0.0.1:$PORT/v1/recommend" -d '{"model": "ml100k-ease@production", "user": "196", "k": 10}')
bytes=${#sample}

run_wrk() {  # LABEL ARGS...
  local label=$1; shift
  echo "\$ ${CLI_PIN[*]} wrk -t$THREADS -c$CONNS -d$DURATION --latency $*" >"$OUT/$label.txt"
  "${CLI_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" >>"$OUT/$label.txt" 2>&1
  cat "$OUT/$label.txt"
}
rps() { awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$OUT/$1.txt"; }

echo "== marquee /v1/recommend, EASE on ML-100K (response $bytes bytes)"
run_wrk marquee-ease -s "$OUT/ml100k-ease.lua" "http://127.0.0.1:$PORT/v1/recommend"
# The same users sent as anonymous histories (their full ML-100K rows): every request is folded
# in and scored (the known-user score cache cannot serve them).
python3 - "$DATA/movielens-100k/u.data" "$OUT/ml100k-fold.lua" <<'PY'
import collections, json, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    u, i, _, _ = line.split("\t")
    rows[u].append(i)
with open(sys.argv[2], "w") as f:
    f.write("local bodies = {}\n")
    for u in sorted(rows, key=int):
        body = json.dumps({"model": "ml100k-ease@production", "history": rows[u], "k": 10})
        f.write("bodies[#bodies + 1] = '" + body + "'\n")
    f.write("math.randomseed(42)\nrequest = function()\n"
            "  return wrk.format('POST', '/v1/recommend', {['Content-Type'] = 'application/json'},"
            " bodies[math.random(#bodies)])\nend\n")
PY
echo "== marquee /v1/recommend, EASE on ML-100K, anonymous histories (fold-in, scored per request)"
run_wrk marquee-ease-fold -s "$OUT/ml100k-fold.lua" "http://127.0.0.1:$PORT/v1/recommend"
if [ "${SKIP_IALS:-0}" != 1 ]; then
  # user ids of the synthetic generator are u1..uN (src/data/synthetic.cc); the first 5000
  seq 1 5000 | sed 's/^/u/' >"$OUT/synth-users.txt"
  first=$(curl -s -XPOST "http://127.0.0.1:$PORT/v1/recommend" -d '{"model": "synth-ials@production", "user": "u1", "k": 10}')
  echo "sample iALS response: ${first:0:120}..."
  write_lua synth-ials "$OUT/synth-users.txt"
  echo "== marquee /v1/recommend, iALS 128 factors on a 100k-item catalogue"
  run_wrk marquee-ials -s "$OUT/synth-ials.lua" "http://127.0.0.1:$PORT/v1/recommend"
fi

# --- events: batches of 1,000 through POST /v1/events (durable: fsynced group commits)
python3 - "$OUT/events.lua" <<'PY'
import json, sys
events = [{"user": f"bench{i % 100}", "item": str(1 + i % 1682), "type": "play", "value": 1.0,
           "ts": 1700000000 + i} for i in range(1000)]
body = json.dumps({"events": events}).replace("'", "\\'")
open(sys.argv[1], "w").write("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
                             f"wrk.body = '{body}'\n")
PY
echo "== marquee /v1/events, 1,000 events per request"
run_wrk marquee-events -s "$OUT/events.lua" "http://127.0.0.1:$PORT/v1/events"
ingested=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^marquee_events_ingested_total/ {print $2}')
echo "events ingested (from /metrics): $ingested"

# --- nginx: a static file of the same size, same wrk settings
start_nginx recommend.json "$sample" "$SERVE_THREADS"
echo "== nginx static file ($bytes bytes)"
run_wrk nginx "http://127.0.0.1:$NPORT/recommend.json"

echo
echo "| server | route | model | conns | req/s | p99 |"
echo "|---|---|---|---|---|---|"
echo "| marquee | /v1/recommend | EASE, ML-100K (1,682 items), known users | $CONNS | $(rps marquee-ease) | $(p99 marquee-ease) |"
echo "| marquee | /v1/recommend | EASE, ML-100K, anonymous histories (fold-in) | $CONNS | $(rps marquee-ease-fold) | $(p99 marquee-ease-fold) |"
[ "${SKIP_IALS:-0}" = 1 ] || echo "| marquee | /v1/recommend | iALS 128f, 100k items | $CONNS | $(rps marquee-ials) | $(p99 marquee-ials) |"
echo "| nginx | static ${bytes} B file | - | $CONNS | $(rps nginx) | $(p99 nginx) |"
echo "| marquee | /v1/events (1,000 per request) | - | $CONNS | $(rps marquee-events) (x1000 events/s) | $(p99 marquee-events) |"
python3 -c "import sys; m=float(sys.argv[1]); f=float(sys.argv[2]); n=float(sys.argv[3]); print(f'marquee/nginx throughput ratio (ML-100K): known users {m/n:.2f}, anonymous histories {f/n:.2f}')" "$(rps marquee-ease)" "$(rps marquee-ease-fold)" "$(rps nginx)"
