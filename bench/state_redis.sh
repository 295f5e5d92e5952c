#!/usr/bin/env bash
# The cost of the online state in Redis (docs/formats/state-redis.md) per request, in one run:
# one `marquee serve` on the home's embedded RocksDB against one on a copy of the home whose
# marquee.toml says state = "redis://..." (a redis-server with --appendonly yes --appendfsync
# always on loopback), same model, same members.
#
#   bench/state_redis.sh [BUILD_DIR]     (default build/release; needs ../shared/data/movielens-100k)
#
# Measured in ROUNDS alternating rounds (the order flips each round), medians with min-max:
#   recommend  wrk POST /v1/recommend (EASE on ML-100K, k 10) for MEMBERS members who each have
#              EVENTS events in the state: every request reads the member's recent history
#              (Recent) and folds it in
#   events     wrk POST /v1/events, one event of a random member per request (an acknowledged
#              append: fsynced WAL for RocksDB, fsynced AOF for Redis)
# Then INFO memory of Redis for the members' events (bytes per member and per event).
#
# Env: DURATION (default 10s), CONNS (default 32), THREADS (wrk threads, default 2),
#      SERVE_THREADS (default nproc), ROUNDS (default 5), MEMBERS (default 900), EVENTS (20).
# Exits 77 (skip) when wrk or redis-server is missing. Takes /tmp/marquee-bench.lock.
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
MEMBERS=${MEMBERS:-900}
EVENTS=${EVENTS:-20}
command -v wrk >/dev/null || { echo "state_redis: wrk is not installed" >&2; exit 77; }
command -v redis-server >/dev/null || { echo "state_redis: redis-server is not installed" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "state_redis: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-state-bench.XXXXXX)
source bench/lib.sh
bench_lock

# --- Redis, durable as the server demands
RPORT=$(free_port)
mkdir -p "$OUT/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$OUT/redis" --appendonly yes \
  --appendfsync always --save "" --daemonize no --logfile "$OUT/redis/log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# --- two homes with the same model: embedded state, and Redis state
train_ml100k_ease "$BIN" "$OUT/embedded" "$DATA"
cp -a "$OUT/embedded" "$OUT/redis-home"
echo "state = \"redis://127.0.0.1:$RPORT/0\"" >"$OUT/redis-home/marquee.toml"

start_serve() {  # HOME: sets SPORT
  SPORT=$(free_port)
  "$BIN" --home "$1" -q --threads "$SERVE_THREADS" serve --port "$SPORT" \
    --model ml100k-ease@production --poll-interval 0 >>"$OUT/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$SPORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$SPORT/readyz" >/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
}
start_serve "$OUT/embedded"
P_EMB=$SPORT
start_serve "$OUT/redis-home"
P_RED=$SPORT

# --- MEMBERS members (ML-100K ids 1..943) with EVENTS events each, in both states
/usr/bin/python3 - "$MEMBERS" "$EVENTS" "$OUT" <<'PY'
import json, random, sys
members, events, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(7)
with open(f"{out}/members.txt", "w") as f:
    for m in range(1, members + 1):
        f.write(f"{m}\n")
batches = []
for m in range(1, members + 1):
    batches.append({"events": [{"user": str(m), "item": str(random.randint(1, 1682)),
                                "type": "play", "ts": 1700000000 + k} for k in range(events)]})
with open(f"{out}/events.jsonl", "w") as f:
    for b in batches:
        f.write(json.dumps(b) + "\n")
PY
for port in "$P_EMB" "$P_RED"; do
  while read -r line; do
    curl -sf -XPOST "http://127.0.0.1:$port/v1/events" -d "$line" >/dev/null
  done <"$OUT/events.jsonl"
done
redis_mem_events=$(redis-cli -p "$RPORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
redis_keys=$(redis-cli -p "$RPORT" dbsize | tr -d '\r')
redis-cli -p "$RPORT" flushall >/dev/null
redis_mem_empty=$(redis-cli -p "$RPORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
# put the events back (the rounds read them)
while read -r line; do
  curl -sf -XPOST "http://127.0.0.1:$P_RED/v1/events" -d "$line" >/dev/null
done <"$OUT/events.jsonl"

recommend_lua "$OUT/recommend.lua" "$OUT/members.txt" '"model": "ml100k-ease@production"'
cat >"$OUT/events.lua" <<LUA
math.randomseed(43)
request = function()
  local u = math.random($MEMBERS)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"},
    '{"events": [{"user": "' .. u .. '", "item": "' .. math.random(1682) .. '", "ts": 1700001000}]}')
end
LUA

run_wrk() {  # LABEL PORT LUA
  echo "\$ wrk -t$THREADS -c$CONNS -d$DURATION --latency -s $3 http://127.0.0.1:$2" >"$OUT/$1.txt"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$3" "http://127.0.0.1:$2" >>"$OUT/$1.txt" 2>&1
}
rps() { awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt"; }
p50() { awk '$1 == "50%" {print $2}' "$OUT/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$OUT/$1.txt"; }
non2xx() { awk '/Non-2xx/ {print $NF}' "$OUT/$1.txt"; }

echo "load before: $(uptime)"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="emb red"; else order="red emb"; fi
  for kind in recommend events; do
    for b in $order; do
      port=$P_EMB; [ "$b" = red ] && port=$P_RED
      run_wrk "$kind-$b-$r" "$port" "$OUT/$kind.lua"
      echo "round $r $kind $b: $(rps "$kind-$b-$r") req/s, p50 $(p50 "$kind-$b-$r"), p99 $(p99 "$kind-$b-$r"), non-2xx $(non2xx "$kind-$b-$r")"
    done
  done
done
echo "load after: $(uptime)"

summary() {  # KIND B
  local vals=() r
  for r in $(seq "$ROUNDS"); do vals+=("$(rps "$1-$2-$r")"); done
  printf '%s\n' "${vals[@]}" | sort -g | awk '{a[NR] = $1} END {printf "%.0f (%.0f-%.0f)", a[int((NR + 1) / 2)], a[1], a[NR]}'
}
p99s() {
  local vals=() r
  for r in $(seq "$ROUNDS"); do vals+=("$(p99 "$1-$2-$r")"); done
  echo "${vals[*]}"
}
echo
echo "### Online state: embedded RocksDB vs Redis (bench/state_redis.sh)"
echo
echo "$(nproc) cores, $SERVE_THREADS server threads per replica, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS alternating rounds; $MEMBERS members with $EVENTS events each."
echo
echo "| route | embedded RocksDB req/s, median (min-max) | Redis req/s, median (min-max) | p99 per round, embedded | p99 per round, Redis |"
echo "|---|---|---|---|---|"
for kind in recommend events; do
  echo "| $kind | $(summary "$kind" emb) | $(summary "$kind" red) | $(p99s "$kind" emb) | $(p99s "$kind" red) |"
done
echo
awk -v full="$redis_mem_events" -v empty="$redis_mem_empty" -v m="$MEMBERS" -v e="$EVENTS" -v k="$redis_keys" 'BEGIN {
  printf "Redis used_memory for %d members x %d events (%d keys): %d bytes over an empty server = %.0f bytes per member, %.0f per event\n",
    m, e, k, full - empty, (full - empty) / m, (full - empty) / (m * e) }'
