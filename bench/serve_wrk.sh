#!/usr/bin/env bash
# Load benchmark of `marquee serve` with wrk on loopback, against nginx serving a static file of
# the same size as a /v1/recommend response (the ceiling of this machine's HTTP stack), in the
# same run. Prints a markdown section for docs/BENCHMARKS.md.
#
#   bench/serve_wrk.sh [BUILD_DIR]     (default build/release; needs ../shared/data/movielens-100k)
#
# /v1/recommend on ML-100K is measured three ways, in ROUNDS alternating rounds (the order
# rotates each round) together with nginx, and reported as medians with min-max:
#   cache-only  random members with no new events: every request is answered from the known-user
#               score cache (the best case)
#   mixed       a realistic mix: ANON_SHARE of requests are anonymous histories (1-50 items of a
#               member's row), the rest random members, FRESH_SHARE of whom got a fresh play
#               through /v1/events before the rounds (their history grew: scored per request);
#               the cache hit rate is read from /metrics (marquee_recommend_rankings_total)
#   nginx       a static file of the size of a response (the machine's HTTP ceiling)
# then once each: every member's full row as an anonymous history (all fold-in), iALS on a
# 100k-item catalogue, and /v1/events.
#
# Env: DURATION (default 10s), CONNS (default 32), THREADS (wrk threads, default 2),
#      SERVE_THREADS (marquee io threads and nginx workers, default nproc), ROUNDS (default 5),
#      FRESH_SHARE (default 0.2), ANON_SHARE (default 0.2), SKIP_IALS=1 to skip
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
ROUNDS=${ROUNDS:-5}
FRESH_SHARE=${FRESH_SHARE:-0.2}
ANON_SHARE=${ANON_SHARE:-0.2}
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

# wrk script: POST /v1/recommend for a user drawn per request from a file of member ids.
write_lua() {  # MODEL USERS_FILE [LUA_NAME]
  recommend_lua "$OUT/${3:-$1}.lua" "$2" "\"model\": \"$1@production\""
}
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
non2xx() { awk '/Non-2xx/ {print $NF}' "$OUT/$1.txt"; }
# marquee_recommend_rankings_total by scored_by: "cache scored fallback training_sums"
rankings() {
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '
    /^marquee_recommend_rankings_total\{scored_by="score_cache"\}/ {c = $2}
    /^marquee_recommend_rankings_total\{scored_by="per_request"\}/ {s = $2}
    /^marquee_recommend_rankings_total\{scored_by="popularity_fallback"\}/ {f = $2}
    /^marquee_recommend_rankings_total\{scored_by="training_sums"\}/ {g = $2}
    END {print c + 0, s + 0, f + 0, g + 0}'
}
run_recommend() {  # LABEL ARGS...: run_wrk, then the cache hit rate of that run into LABEL.hit
  local label=$1 before after
  before=$(rankings)
  run_wrk "$@"
  after=$(rankings)
  python3 -c 'import sys
b = [int(x) for x in sys.argv[1].split()]; a = [int(x) for x in sys.argv[2].split()]
d = [y - x for x, y in zip(b, a)]
print(f"{d[0] / sum(d):.3f}" if sum(d) else "n/a")' "$before" "$after" >"$OUT/$label.hit"
  [ -z "$(non2xx "$label")" ] || { echo "serve_wrk: non-2xx answers in $label" >&2; exit 1; }
  echo "cache hit rate (from /metrics): $(cat "$OUT/$label.hit")"
}

# --- the request pools: members with and without a fresh event, anonymous histories
python3 - "$DATA/movielens-100k/u.data" "$OUT" "$FRESH_SHARE" "$ANON_SHARE" <<'PY'
import collections, json, random, sys
data, out, fresh_share, anon_share = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = collections.defaultdict(list)
for line in open(data):
    u, i, _, _ = line.split("\t")
    rows[u].append(i)
users = sorted(rows, key=int)
rng = random.Random(42)
fresh = set(rng.sample(users, round(len(users) * fresh_share)))
open(f"{out}/ml-users.txt", "w").writelines(u + "\n" for u in users)
open(f"{out}/cached-users.txt", "w").writelines(u + "\n" for u in users if u not in fresh)
# One fresh play each, of an item the member has not rated: the history grows, the cache steps aside.
items = sorted({i for r in rows.values() for i in r}, key=int)
events = []
for u in sorted(fresh, key=int):
    seen = set(rows[u])
    events.append({"user": u, "item": rng.choice([i for i in items if i not in seen]),
                   "type": "play", "value": 1.0})
json.dump({"events": events}, open(f"{out}/fresh-events.json", "w"))
def lua_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
with open(f"{out}/ml100k-fold.lua", "w") as f:  # every member's full row, anonymously
    f.write("local bodies = {}\n")
    for u in users:
        body = json.dumps({"model": "ml100k-ease@production", "history": rows[u], "k": 10})
        f.write("bodies[#bodies + 1] = " + lua_str(body) + "\n")
    f.write("math.randomseed(42)\nrequest = function()\n"
            "  return wrk.format('POST', '/v1/recommend', {['Content-Type'] = 'application/json'},"
            " bodies[math.random(#bodies)])\nend\n")
with open(f"{out}/ml100k-mixed.lua", "w") as f:
    f.write("local users, anon = {}, {}\n")
    for u in users:
        f.write(f"users[#users + 1] = {lua_str(u)}\n")
    for _ in range(2000):
        r = rows[rng.choice(users)]
        hist = rng.sample(r, rng.randint(1, min(len(r), 50)))
        body = json.dumps({"model": "ml100k-ease@production", "history": hist, "k": 10})
        f.write(f"anon[#anon + 1] = {lua_str(body)}\n")
    f.write(f"local anon_share = {anon_share}\n")
    f.write("""math.randomseed(42)
request = function()
  local body
  if math.random() < anon_share then
    body = anon[math.random(#anon)]
  else
    body = '{"model": "ml100k-ease@production", "user": "' .. users[math.random(#users)] .. '", "k": 10}'
  end
  return wrk.format('POST', '/v1/recommend', {['Content-Type'] = 'application/json'}, body)
end
""")
PY
write_lua ml100k-ease "$OUT/cached-users.txt"
accepted=$(curl -sf -XPOST "http://127.0.0.1:$PORT/v1/events" -d @"$OUT/fresh-events.json")
echo "fresh plays for $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["events"]))' "$OUT/fresh-events.json") members: $accepted"

# --- nginx: a static file of the same size, same wrk settings, in the same rounds
start_nginx recommend.json "$sample" "$SERVE_THREADS"

# --- alternating rounds: cache-only, mixed, nginx (the order rotates each round)
kinds=(cache mixed nginx)
for r in $(seq 1 "$ROUNDS"); do
  for j in 0 1 2; do
    kind=${kinds[$(((r - 1 + j) % 3))]}
    case $kind in
      cache)
        echo "== round $r: marquee /v1/recommend, EASE on ML-100K, cache-only (members without new events; response $bytes bytes)"
        run_recommend "cache-$r" -s "$OUT/ml100k-ease.lua" "http://127.0.0.1:$PORT/v1/recommend" ;;
      mixed)
        echo "== round $r: marquee /v1/recommend, EASE on ML-100K, mixed (anonymous $ANON_SHARE, members with a fresh play $FRESH_SHARE)"
        run_recommend "mixed-$r" -s "$OUT/ml100k-mixed.lua" "http://127.0.0.1:$PORT/v1/recommend" ;;
      nginx)
        echo "== round $r: nginx static file ($bytes bytes)"
        run_wrk "nginx-$r" "http://127.0.0.1:$NPORT/recommend.json" ;;
    esac
  done
done

# The members' full rows sent as anonymous histories: every request is folded in and scored
# (the known-user score cache cannot serve them).
echo "== marquee /v1/recommend, EASE on ML-100K, anonymous histories (fold-in, scored per request)"
run_recommend marquee-ease-fold -s "$OUT/ml100k-fold.lua" "http://127.0.0.1:$PORT/v1/recommend"
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

# --- summary: medians over the rounds with [min-max]; ratios to nginx per round
python3 - "$OUT" "$ROUNDS" "$CONNS" "$bytes" "${SKIP_IALS:-0}" "$ANON_SHARE" "$FRESH_SHARE" <<'PY'
import re, statistics, sys
out, rounds, conns, nbytes, skip_ials = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
anon, fresh = sys.argv[6], sys.argv[7]
def wrk(label):
    t = open(f"{out}/{label}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, p99
def hit(label):
    try:
        return float(open(f"{out}/{label}.hit").read())
    except (OSError, ValueError):
        return float("nan")
def spread(xs, fmt):
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}-{fmt(max(xs))}]"
n = lambda x: f"{x:,.0f}"
ms = lambda x: f"{x:.2f} ms"
r2 = lambda x: f"{x:.2f}"
pct = lambda x: f"{x * 100:.0f}%"
res = {k: [wrk(f"{k}-{r}") for r in range(1, rounds + 1)] for k in ("cache", "mixed", "nginx")}
hits = {k: [hit(f"{k}-{r}") for r in range(1, rounds + 1)] for k in ("cache", "mixed")}
ratio = {k: [res[k][i][0] / res["nginx"][i][0] for i in range(rounds)] for k in ("cache", "mixed")}
print()
print(f"/v1/recommend, EASE on ML-100K, {rounds} alternating rounds: median [min-max]")
print()
print("| workload | conns | req/s | p99 | cache hit rate | marquee/nginx (per round) |")
print("|---|---|---|---|---|---|")
print(f"| cache-only: random members without new events | {conns} | {spread([x[0] for x in res['cache']], n)} | "
      f"{spread([x[1] for x in res['cache']], ms)} | {spread(hits['cache'], pct)} | {spread(ratio['cache'], r2)} |")
print(f"| mixed: {float(anon) * 100:.0f}% anonymous histories (1-50 items), members ({float(fresh) * 100:.0f}% with a fresh play) | {conns} | "
      f"{spread([x[0] for x in res['mixed']], n)} | {spread([x[1] for x in res['mixed']], ms)} | "
      f"{spread(hits['mixed'], pct)} | {spread(ratio['mixed'], r2)} |")
print(f"| nginx: static {nbytes} B file | {conns} | {spread([x[0] for x in res['nginx']], n)} | "
      f"{spread([x[1] for x in res['nginx']], ms)} | - | - |")
mc = [res["mixed"][i][0] / res["cache"][i][0] for i in range(rounds)]
print()
print(f"mixed / cache-only throughput, per round: {spread(mc, r2)}")
print()
print("One run each:")
print()
print("| server | route | model | conns | req/s | p99 |")
print("|---|---|---|---|---|---|")
f = wrk("marquee-ease-fold")
print(f"| marquee | /v1/recommend | EASE, ML-100K, every member's full row as an anonymous history (fold-in; hit rate {pct(hit('marquee-ease-fold'))}) | {conns} | {n(f[0])} | {ms(f[1])} |")
if not skip_ials:
    f = wrk("marquee-ials")
    print(f"| marquee | /v1/recommend | iALS 128f, 100k items | {conns} | {n(f[0])} | {ms(f[1])} |")
f = wrk("marquee-events")
print(f"| marquee | /v1/events (1,000 per request) | - | {conns} | {n(f[0])} (x1000 events/s) | {ms(f[1])} |")
print()
print(f"fold-in/nginx (against the median nginx round): {wrk('marquee-ease-fold')[0] / statistics.median(x[0] for x in res['nginx']):.2f}")
PY
