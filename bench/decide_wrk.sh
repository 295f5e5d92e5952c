#!/usr/bin/env bash
# Load benchmark of POST /v1/decide (contextual bandits) with wrk on loopback, against nginx
# serving a static file of the same size as a /v1/decide response (the ceiling of this machine's
# HTTP stack), in the same run. Every decision is fsynced in the decision log before its answer
# (group commit), as in production. Prints a markdown table for docs/BENCHMARKS.md.
#
#   bench/decide_wrk.sh [BUILD_DIR]     (default build/release)
#
# The policy: LinUCB (alpha 0.5, the default hashed features with context x action crosses)
# trained by `marquee train` on a synthetic log of 2,000 decisions over 10 actions; each request
# offers those 10 actions with 2 features each and a context of 3 features.
# Env: DURATION (default 10s), CONNS (default 32), THREADS (wrk threads, default 2),
#      SERVE_THREADS (marquee io threads, default nproc).
# Exits 77 (skip) when wrk or nginx is missing. Takes /tmp/marquee-bench.lock while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$(pwd)/$BUILD/tools/marquee/marquee
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SERVE_THREADS=${SERVE_THREADS:-$(nproc)}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PY=/usr/bin/python3
command -v wrk >/dev/null || { echo "decide_wrk: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
[ -x "$NGINX" ] || { echo "decide_wrk: nginx is not installed (apt-get install nginx-light)" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-decide-bench.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh

q() { "$BIN" --home "$HOME_DIR" -q "$@"; }

# --- a LinUCB policy trained on a synthetic log (10 actions x 2 features, 3 context features)
$PY - "$OUT" <<'PY'
import json, random, sys
out = sys.argv[1]
random.seed(7)
actions = [{"id": f"img-{k}", "features": {"tone": ["dark", "light"][k % 2], "faces": k % 3}}
           for k in range(1, 11)]
with open(f"{out}/log.jsonl", "w") as f:
    for i in range(2000):
        ctx = {"country": random.choice(["US", "FR", "BR"]),
               "device": random.choice(["tv", "phone"]), "hour": random.randint(0, 23)}
        c = random.randrange(10)
        good = (c % 2 == 0) == (ctx["device"] == "tv")
        r = 1.0 if random.random() < (0.3 if good else 0.05) else 0.0
        f.write(json.dumps({"context": ctx, "actions": actions, "chosen": c, "probability": 0.1,
                            "reward": r, "user": str(i % 500)}) + "\n")
body = {"model": "artwork@production", "user": "196",
        "context": {"country": "US", "device": "tv", "hour": 21}, "actions": actions}
text = json.dumps(body).replace("'", "\\'")
open(f"{out}/decide.lua", "w").write(
    "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
    f"wrk.body = '{text}'\n")
open(f"{out}/decide.json", "w").write(json.dumps(body))
PY
cat >"$OUT/linucb.toml" <<TOML
[data]
train = "$OUT/log.jsonl"
[model]
family = "linucb"
name = "artwork"
alpha = 0.5
TOML
q train "$OUT/linucb.toml" >/dev/null
q models promote artwork/1 --alias production >/dev/null

bench_lock

PORT=$(free_port)
"$BIN" --home "$HOME_DIR" --threads "$SERVE_THREADS" serve --port "$PORT" \
  --bandit artwork@production --poll-interval 0 2>"$OUT/serve.log" &
SERVE_PID=$!
pids+=($SERVE_PID)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
sample=$(curl -sf -XPOST "http://127.0.0.1:$PORT/v1/decide" -d @"$OUT/decide.json") \
  || { cat "$OUT/serve.log" >&2; exit 1; }
bytes=${#sample}
echo "sample /v1/decide response ($bytes bytes): ${sample:0:160}..."

run_wrk() {  # LABEL ARGS...
  local label=$1; shift
  echo "\$ wrk -t$THREADS -c$CONNS -d$DURATION --latency $*" >"$OUT/$label.txt"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" >>"$OUT/$label.txt" 2>&1
  cat "$OUT/$label.txt"
}
rps() { awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$OUT/$1.txt"; }
non2xx() { awk '/Non-2xx/ {print $NF}' "$OUT/$1.txt"; }

echo "== marquee /v1/decide, LinUCB, 10 actions (durable decision log)"
run_wrk marquee-decide -s "$OUT/decide.lua" "http://127.0.0.1:$PORT/v1/decide"
[ -z "$(non2xx marquee-decide)" ] || { echo "decide_wrk: non-2xx answers" >&2; exit 1; }
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true
commits=$(grep -o '[0-9]* decisions, .* group commits' "$OUT/serve.log" || echo "?")
echo "server: $commits"

# --- nginx: a static file of the same size, same wrk settings
start_nginx decide.json "$sample" "$SERVE_THREADS"
echo "== nginx static file ($bytes bytes)"
run_wrk nginx "http://127.0.0.1:$NPORT/decide.json"

logged=$(q decisions export --format jsonl --include-open | wc -l)
echo
echo "| server | route | conns | req/s | p99 |"
echo "|---|---|---|---|---|"
echo "| marquee | /v1/decide (LinUCB, 10 actions, fsynced log) | $CONNS | $(rps marquee-decide) | $(p99 marquee-decide) |"
echo "| nginx | static ${bytes} B file | $CONNS | $(rps nginx) | $(p99 nginx) |"
$PY -c "import sys; m=float(sys.argv[1]); n=float(sys.argv[2]); print(f'marquee/nginx throughput ratio: {m/n:.3f}')" "$(rps marquee-decide)" "$(rps nginx)"
echo "decisions in the log after the run: $logged ($commits)"
