#!/usr/bin/env bash
# Issue #18, "Serving real traffic, not the cache": /v1/recommend under a mixed workload on
# EASE/ML-100K against nginx serving a static file of the same size as a response, in the same
# run. Prints a markdown section for docs/BENCHMARKS.md.
#
#   bench/serve_mix.sh [BUILD_DIR]     (default build/release; needs ../shared/data/movielens-100k)
#
# One wrk (THREADS=1 thread, CONNS=32 connections) sends, per request, drawn at random:
#   45%  POST /v1/recommend for a random ML-100K member (943 members, k=10)
#   45%  POST /v1/recommend with an anonymous history of 20 items (drawn from a random member's
#        row; a pool of 2,000 bodies)
#   10%  POST /v1/events: one play of a random member for an item outside their training row
#        (a pool of 5,000 bodies); the member's history grew, so the known-user score cache steps
#        aside for them from then on and their requests are scored per request
# in ROUNDS alternating rounds (the order rotates each round) of three kinds:
#   mix         the workload above, against a server started for the round from a fresh copy of
#               the trained home (every mix round starts with no events in the log)
#   nginx       a static file of the size of a member's response (the machine's HTTP ceiling)
#   cache-only  random members on a second server that never receives events: every request is
#               answered from the known-user score cache (the best case)
# Reported per kind: median [min-max] of req/s and of wrk's p99 (all requests of the round:
# the event posts' p99 is their fsync); for the mix also the /v1/recommend share of the
# requests sent (counted in the wrk script), the cache hit rate and the p99 of /v1/recommend
# alone, both read from the server's /metrics (the latency histogram's buckets, interpolated;
# measured from the request's header to its written response, so socket queueing is not in it),
# and the events written per group commit (one fsync each by default); and, for every kind, the
# machine's idle share over the round (/proc/stat).
#
# Env: DURATION (default 10s), CONNS (32), THREADS (wrk threads, 1), SERVE_THREADS (marquee io
#      threads and nginx workers, default nproc), ROUNDS (5), EVENT_SHARE (0.10),
#      ANON_SHARE (0.45), ANON_ITEMS (20), PERF_OUT (a file: the first round's mix server is
#      recorded there by `perf record -e cpu-clock -g`, the cache-only server in PERF_OUT.cache,
#      for `perf report -i FILE`), BASE_BUILD (another build folder, e.g. of the main branch: each
#      round also runs the mix against its marquee, as "mix-base", for a before/after in one run),
#      WRITE_SYNC (default 1: each round also runs the mix against this build with
#      `--event-sync write`, events acknowledged once written to the kernel, as "mix-write"; 0:
#      not), SPLIT (default 0; 1: each round also runs "split": the same requests from two wrk
#      processes at once against a fresh server, /v1/recommend (members and anonymous histories,
#      as in the mix) on CONNS - SPLIT_EVENT_CONNS connections and /v1/events on SPLIT_EVENT_CONNS
#      (default 8), so each kind gets its own client-side latency, which one wrk cannot give;
#      and "nsplit": nginx's static file under the same two processes, for the machine's own tail).
# Exits 77 (skip) when wrk or nginx is missing. Takes /tmp/marquee-bench.lock while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
BIN=$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
SERVE_THREADS=${SERVE_THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-5}
EVENT_SHARE=${EVENT_SHARE:-0.10}
ANON_SHARE=${ANON_SHARE:-0.45}
ANON_ITEMS=${ANON_ITEMS:-20}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "serve_mix: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
[ -x "$NGINX" ] || { echo "serve_mix: nginx is not installed (apt-get install nginx-light)" >&2; exit 77; }
[ -f "$DATA/movielens-100k/u.data" ] || { echo "serve_mix: $DATA/movielens-100k/u.data is absent" >&2; exit 77; }

OUT=$(mktemp -d /tmp/marquee-serve-mix.XXXXXX)
source bench/lib.sh
bench_lock

MODEL=ml100k-ease@production
train_ml100k_ease "$BIN" "$OUT/trained" "$DATA"

# start_marquee HOME [BINARY [SERVE_ARGS...]]: a server on HOME (port in MPORT, pid in MPID)
start_marquee() {
  local home=$1 bin=${2:-$BIN}
  shift $(($# < 2 ? $# : 2))
  MPORT=$(free_port)
  "$bin" --home "$home" -q --threads "$SERVE_THREADS" serve --port "$MPORT" --model "$MODEL" \
    --poll-interval 0 "$@" 2>>"$OUT/serve.log" &
  MPID=$!
  pids+=("$MPID")
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$MPORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$MPORT/readyz" >/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
}
stop_marquee() {  # PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# --- the request pools and the wrk scripts
python3 - "$DATA/movielens-100k/u.data" "$OUT" "$MODEL" "$ANON_SHARE" "$EVENT_SHARE" "$ANON_ITEMS" <<'PY'
import collections, json, random, sys
data, out, model = sys.argv[1], sys.argv[2], sys.argv[3]
anon_share, event_share, anon_items = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
rows = collections.defaultdict(list)
for line in open(data):
    u, i, _, _ = line.split("\t")
    rows[u].append(i)
users = sorted(rows, key=int)
items = sorted({i for r in rows.values() for i in r}, key=int)
rng = random.Random(42)
open(f"{out}/members.txt", "w").writelines(u + "\n" for u in users)
def lua_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
with open(f"{out}/mix.lua", "w") as f:
    f.write("local users, anon, events = {}, {}, {}\n")
    for u in users:
        f.write(f"users[#users + 1] = {lua_str(u)}\n")
    long_rows = [u for u in users if len(rows[u]) >= anon_items]
    for _ in range(2000):
        hist = rng.sample(rows[rng.choice(long_rows)], anon_items)
        body = json.dumps({"model": model, "history": hist, "k": 10})
        f.write(f"anon[#anon + 1] = {lua_str(body)}\n")
    for _ in range(5000):
        u = rng.choice(users)
        seen = set(rows[u])
        ev = {"user": u, "item": rng.choice([i for i in items if i not in seen]), "type": "play",
              "value": 1.0}
        f.write(f"events[#events + 1] = {lua_str(json.dumps({'events': [ev]}))}\n")
    f.write(f"local anon_share, event_share = {anon_share}, {event_share}\n")
    f.write(f"local model = {lua_str(model)}\n")
    f.write("""math.randomseed(42)
n_member, n_anon, n_event = 0, 0, 0
local json_type = {["Content-Type"] = "application/json"}
request = function()
  local x = math.random()
  if x < event_share then
    n_event = n_event + 1
    return wrk.format('POST', '/v1/events', json_type, events[math.random(#events)])
  elseif x < event_share + anon_share then
    n_anon = n_anon + 1
    return wrk.format('POST', '/v1/recommend', json_type, anon[math.random(#anon)])
  end
  n_member = n_member + 1
  return wrk.format('POST', '/v1/recommend', json_type,
    '{"model": "' .. model .. '", "user": "' .. users[math.random(#users)] .. '", "k": 10}')
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function()
  local m, a, e = 0, 0, 0
  for _, t in ipairs(threads) do
    m = m + t:get("n_member"); a = a + t:get("n_anon"); e = e + t:get("n_event")
  end
  io.write(string.format("sent: member %d anonymous %d event %d\\n", m, a, e))
end
""")
PY
recommend_lua "$OUT/cache.lua" "$OUT/members.txt" "\"model\": \"$MODEL\""
# SPLIT: the mix's pools, recommendations only (members and anonymous histories in the mix's
# proportion) and events only.
rec_anon=$(python3 -c "print($ANON_SHARE / (1 - $EVENT_SHARE))")
sed "s/^local anon_share, event_share = .*/local anon_share, event_share = $rec_anon, 0/" \
  "$OUT/mix.lua" >"$OUT/rec.lua"
sed "s/^local anon_share, event_share = .*/local anon_share, event_share = 0, 1.01/" \
  "$OUT/mix.lua" >"$OUT/ev.lua"
SPLIT_EVENT_CONNS=${SPLIT_EVENT_CONNS:-8}

# --- the cache-only server (never receives an event) and nginx
cp -a "$OUT/trained" "$OUT/cache-home"
start_marquee "$OUT/cache-home"
CACHE_PORT=$MPORT
CACHE_PID=$MPID
sample=$(curl -s -XPOST "http://127.0.0.1:$CACHE_PORT/v1/recommend" -d "{\"model\": \"$MODEL\", \"user\": \"196\", \"k\": 10}")
bytes=${#sample}
start_nginx recommend.json "$sample" "$SERVE_THREADS"
NGINX_PID=${pids[-1]}

# CPU seconds (user + system, every thread) used so far by the processes given and their
# children's processes (nginx's workers): with the requests of a round, the server's CPU time
# per request, which the other load on the machine changes far less than req/s.
cpu_seconds() {
  local all=("$@") p
  for p in "$@"; do all+=($(pgrep -P "$p" || true)); done
  for p in "${all[@]}"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
    awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); s += $12 + $13} END {printf "%.2f\n", s / hz}'
}

run_wrk() {  # LABEL SERVER_PID ARGS...
  local label=$1 server=$2 cpu0
  shift 2
  echo "\$ wrk -t$THREADS -c$CONNS -d$DURATION --latency $*" >"$OUT/$label.txt"
  cpu0=$(cpu_seconds "$server")
  local stat0; stat0=$(head -1 /proc/stat)
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" >>"$OUT/$label.txt" 2>&1
  echo "server cpu seconds: $(python3 -c "print($(cpu_seconds "$server") - $cpu0)")" >>"$OUT/$label.txt"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$label.txt"
  # The machine's idle share over the round (every CPU; idle + iowait over all /proc/stat time).
  printf '%s\n%s\n' "$stat0" "$(head -1 /proc/stat)" | awk '{t = 0; for (i = 2; i <= NF; i++) t += $i;
    if (NR == 1) {t0 = t; i0 = $5 + $6} else printf "machine idle: %.3f\n", ($5 + $6 - i0) / (t - t0)}' \
    >>"$OUT/$label.txt"
  cat "$OUT/$label.txt"
  if grep -q "Non-2xx" "$OUT/$label.txt"; then echo "serve_mix: non-2xx answers in $label" >&2; exit 1; fi
}

# With PERF_OUT set, the first round's mix and cache-only servers are profiled.
perf_pid=
start_perf() {  # PID FILE
  if [ -n "${PERF_OUT:-}" ] && [ "$r" = 1 ]; then
    perf record -e cpu-clock -g -o "$2" -p "$1" 2>>"$OUT/perf.log" &
    perf_pid=$!
  fi
}
stop_perf() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  perf_pid=
}

kinds=(mix nginx cache)
[ -n "${BASE_BUILD:-}" ] && kinds+=(base)
[ "${WRITE_SYNC:-1}" = 1 ] && kinds+=(write)
[ "${SPLIT:-0}" = 1 ] && kinds+=(split nsplit)
for r in $(seq 1 "$ROUNDS"); do
  for j in $(seq 0 $((${#kinds[@]} - 1))); do
    kind=${kinds[$(((r - 1 + j) % ${#kinds[@]}))]}
    case $kind in
      base)
        echo "== round $r: marquee mix, the build in $BASE_BUILD"
        rm -rf "$OUT/mix-home"
        cp -a "$OUT/trained" "$OUT/mix-home"
        start_marquee "$OUT/mix-home" "$BASE_BUILD/tools/marquee/marquee"
        run_wrk "base-$r" "$MPID" -s "$OUT/mix.lua" "http://127.0.0.1:$MPORT/"
        curl -s "http://127.0.0.1:$MPORT/metrics" >"$OUT/base-$r.metrics"
        stop_marquee "$MPID" ;;
      write)
        echo "== round $r: marquee mix, --event-sync write"
        rm -rf "$OUT/mix-home"
        cp -a "$OUT/trained" "$OUT/mix-home"
        start_marquee "$OUT/mix-home" "$BIN" --event-sync write
        run_wrk "write-$r" "$MPID" -s "$OUT/mix.lua" "http://127.0.0.1:$MPORT/"
        curl -s "http://127.0.0.1:$MPORT/metrics" >"$OUT/write-$r.metrics"
        stop_marquee "$MPID" ;;
      mix)
        echo "== round $r: marquee mix (member $(python3 -c "print(round(1 - $ANON_SHARE - $EVENT_SHARE, 4))"), anonymous $ANON_SHARE x $ANON_ITEMS items, events $EVENT_SHARE)"
        rm -rf "$OUT/mix-home"
        cp -a "$OUT/trained" "$OUT/mix-home"
        start_marquee "$OUT/mix-home"
        start_perf "$MPID" "${PERF_OUT:-}"
        run_wrk "mix-$r" "$MPID" -s "$OUT/mix.lua" "http://127.0.0.1:$MPORT/"
        stop_perf
        curl -s "http://127.0.0.1:$MPORT/metrics" >"$OUT/mix-$r.metrics"
        stop_marquee "$MPID" ;;
      split)
        echo "== round $r: marquee, recommendations and events from two wrk processes"
        rm -rf "$OUT/mix-home"
        cp -a "$OUT/trained" "$OUT/mix-home"
        start_marquee "$OUT/mix-home"
        wrk -t"$THREADS" -c$((CONNS - SPLIT_EVENT_CONNS)) -d"$DURATION" --latency -s "$OUT/rec.lua" \
          "http://127.0.0.1:$MPORT/" >"$OUT/split-rec-$r.txt" 2>&1 &
        wpid=$!
        wrk -t"$THREADS" -c"$SPLIT_EVENT_CONNS" -d"$DURATION" --latency -s "$OUT/ev.lua" \
          "http://127.0.0.1:$MPORT/" >"$OUT/split-ev-$r.txt" 2>&1
        wait "$wpid"
        cat "$OUT/split-rec-$r.txt" "$OUT/split-ev-$r.txt"
        if grep -q "Non-2xx" "$OUT/split-rec-$r.txt" "$OUT/split-ev-$r.txt"; then
          echo "serve_mix: non-2xx answers in split-$r" >&2; exit 1
        fi
        stop_marquee "$MPID" ;;
      nsplit)
        echo "== round $r: nginx static file from two wrk processes"
        wrk -t"$THREADS" -c$((CONNS - SPLIT_EVENT_CONNS)) -d"$DURATION" --latency \
          "http://127.0.0.1:$NPORT/recommend.json" >"$OUT/nsplit-a-$r.txt" 2>&1 &
        wpid=$!
        wrk -t"$THREADS" -c"$SPLIT_EVENT_CONNS" -d"$DURATION" --latency \
          "http://127.0.0.1:$NPORT/recommend.json" >"$OUT/nsplit-b-$r.txt" 2>&1
        wait "$wpid"
        cat "$OUT/nsplit-a-$r.txt" "$OUT/nsplit-b-$r.txt" ;;
      nginx)
        echo "== round $r: nginx static file ($bytes bytes)"
        run_wrk "nginx-$r" "$NGINX_PID" "http://127.0.0.1:$NPORT/recommend.json" ;;
      cache)
        echo "== round $r: marquee cache-only (random members, no events)"
        start_perf "$CACHE_PID" "${PERF_OUT:-}.cache"
        run_wrk "cache-$r" "$CACHE_PID" -s "$OUT/cache.lua" "http://127.0.0.1:$CACHE_PORT/v1/recommend"
        stop_perf ;;
    esac
  done
done

# --- summary: medians over the rounds with [min-max]; ratios to nginx per round
python3 - "$OUT" "$ROUNDS" "$CONNS" "$THREADS" "$bytes" "$DURATION" "${BASE_BUILD:-}" "${WRITE_SYNC:-1}" \
  "${SPLIT:-0}" "$SPLIT_EVENT_CONNS" <<'PY'
import re, statistics, sys
out, rounds, conns, threads, nbytes, duration, base, write, split, split_ev = \
    sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
write = write == "1"
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}
def wrk(label):
    t = open(f"{out}/{label}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    sent = re.search(r"sent: member (\d+) anonymous (\d+) event (\d+)", t)
    load = re.search(r"load: ([\d.]+)", t).group(1)
    requests = int(re.search(r"(\d+) requests in", t).group(1))
    cpu = float(re.search(r"server cpu seconds: ([\d.]+)", t).group(1))
    idle = float(re.search(r"machine idle: ([\d.]+)", t).group(1))
    return {"cpu_us": cpu / requests * 1e6, "rps": rps, "p99": float(m.group(1)) * UNIT[m.group(2)], "load": float(load), "idle": idle,
            "sent": tuple(int(x) for x in sent.groups()) if sent else None}
def metrics(label):
    text = open(f"{out}/{label}.metrics").read()
    ranks = {k: float(v) for k, v in re.findall(
        r'^marquee_recommend_rankings_total\{scored_by="(\w+)"\} (\S+)', text, re.M)}
    buckets = [(float("inf") if le == "+Inf" else float(le), float(n)) for le, n in re.findall(
        r'^marquee_http_request_duration_seconds_bucket\{route="/v1/recommend",le="([^"]+)"\} (\S+)',
        text, re.M)]
    total = buckets[-1][1]
    rank, lo, below, p99 = 0.99 * total, 0.0, 0.0, float("nan")
    for le, cum in buckets:  # cumulative counts: interpolate inside the bucket holding rank
        if cum >= rank:
            p99 = (lo + (le - lo) * (rank - below) / (cum - below)) if le != float("inf") else lo
            break
        lo, below = le, cum
    within = next(cum for le, cum in buckets if abs(le - 0.0025) < 1e-12) / total
    hit = ranks.get("score_cache", 0) / max(1.0, sum(ranks.values()))
    sums = ranks.get("training_sums", 0) / max(1.0, sum(ranks.values()))
    ev = re.search(r"^marquee_events_ingested_total (\S+)", text, re.M)
    gc = re.search(r"^marquee_events_group_commits_total (\S+)", text, re.M)
    per_commit = float(ev.group(1)) / max(1.0, float(gc.group(1))) if ev and gc else float("nan")
    return {"hit": hit, "sums": sums, "p99": p99 * 1000, "within_2_5": within,
            "per_commit": per_commit}
def spread(xs, fmt):
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}-{fmt(max(xs))}]"
n = lambda x: f"{x:,.0f}"
ms = lambda x: f"{x:.2f} ms"
r2 = lambda x: f"{x:.2f}"
pct = lambda x: f"{x * 100:.1f}%"
R = range(1, rounds + 1)
res = {k: [wrk(f"{k}-{r}") for r in R]
       for k in ("mix", "nginx", "cache") + (("base",) if base else ()) + (("write",) if write else ())}
ratio = lambda k: [res[k][i]["rps"] / res["nginx"][i]["rps"] for i in range(rounds)]
def recommend_rows(k, label):  # the mix's two rows: every request, /v1/recommend only
    met = [metrics(f"{k}-{r}") for r in R]
    share = [sum(x["sent"][:2]) / sum(x["sent"]) for x in res[k]]
    rec_rps = [x["rps"] * s for x, s in zip(res[k], share)]
    rec_ratio = [rec_rps[i] / res["nginx"][i]["rps"] for i in range(rounds)]
    print(f"| {label}: every request (recommend + events) | {spread([x['rps'] for x in res[k]], n)} | "
          f"{spread([x['p99'] for x in res[k]], ms)} | {spread(ratio(k), r2)} | {cpu(k)} |")
    print(f"| {label}: /v1/recommend only ({spread(share, pct)} of the requests sent) | "
          f"{spread(rec_rps, n)} | {spread([m['p99'] for m in met], ms)} (server histogram) | "
          f"{spread(rec_ratio, r2)} | - |")
    return met
loads = [x["load"] for k in res for x in res[k]]
print()
print(f"wrk -t{threads} -c{conns} -d{duration} --latency, {rounds} alternating rounds, "
      f"median [min-max]; load average (1 min) at the end of the rounds: {spread(loads, r2)}")
print()
us = lambda x: f"{x:.1f}"
cpu = lambda k: spread([x["cpu_us"] for x in res[k]], us)
print("| workload | req/s | p99 (wrk, every request) | marquee/nginx, per round | server CPU µs per request |")
print("|---|---|---|---|---|")
met = recommend_rows("mix", "mix")
if write:
    write_met = recommend_rows("write", "mix, --event-sync write")
if base:
    base_met = recommend_rows("base", f"mix, {base}")
print(f"| cache-only: random members | {spread([x['rps'] for x in res['cache']], n)} | "
      f"{spread([x['p99'] for x in res['cache']], ms)} | {spread(ratio('cache'), r2)} | {cpu('cache')} |")
print(f"| nginx: static {nbytes} B file | {spread([x['rps'] for x in res['nginx']], n)} | "
      f"{spread([x['p99'] for x in res['nginx']], ms)} | - | {cpu('nginx')} |")
print()
print(f"mix: cache hit rate of /v1/recommend {spread([m['hit'] for m in met], pct)}; "
      f"answered from kept training sums {spread([m['sums'] for m in met], pct)}; "
      f"/v1/recommend answered within 2.5 ms (server side) {spread([m['within_2_5'] for m in met], pct)}; "
      f"events per group commit (one fsync each) {spread([m['per_commit'] for m in met], r2)}")
if write:
    print(f"--event-sync write: cache hit rate {spread([m['hit'] for m in write_met], pct)}; within "
          f"2.5 ms {spread([m['within_2_5'] for m in write_met], pct)}; events per group commit "
          f"(one write each) {spread([m['per_commit'] for m in write_met], r2)}")
if base:
    print(f"{base}: cache hit rate {spread([m['hit'] for m in base_met], pct)}; within 2.5 ms "
          f"{spread([m['within_2_5'] for m in base_met], pct)}; events per group commit "
          f"{spread([m['per_commit'] for m in base_met], r2)}")
    mb = [res["mix"][i]["rps"] / res["base"][i]["rps"] for i in range(rounds)]
    print(f"mix / mix of {base} throughput, per round: {spread(mb, r2)}")
idle = lambda k: spread([x["idle"] for x in res[k]], pct)
print("machine idle over the rounds: " + "; ".join(f"{k} {idle(k)}" for k in res))
if split == "1":
    def rp(path):  # req/s and p99 (ms) of one wrk output
        t = open(path).read()
        m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        return float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), float(m.group(1)) * UNIT[m.group(2)]
    rec = [rp(f"{out}/split-rec-{r}.txt") for r in R]
    ev = [rp(f"{out}/split-ev-{r}.txt") for r in R]
    na = [rp(f"{out}/nsplit-a-{r}.txt") for r in R]
    nb = [rp(f"{out}/nsplit-b-{r}.txt") for r in R]
    rc = int(conns) - int(split_ev)
    print()
    print(f"Two wrk processes at once (SPLIT=1): {rc} + {split_ev} connections, median [min-max]:")
    print()
    print("| workload | req/s | p99 (wrk, that process) | (both processes) / nginx with one wrk, per round |")
    print("|---|---|---|---|")
    tot = [rec[i][0] + ev[i][0] for i in range(rounds)]
    print(f"| marquee /v1/recommend, {rc} connections | {spread([x[0] for x in rec], n)} | "
          f"{spread([x[1] for x in rec], ms)} | {spread([tot[i] / res['nginx'][i]['rps'] for i in range(rounds)], r2)} |")
    print(f"| marquee /v1/events, {split_ev} connections ({spread([ev[i][0] / tot[i] for i in range(rounds)], pct)} "
          f"of the requests) | {spread([x[0] for x in ev], n)} | {spread([x[1] for x in ev], ms)} | - |")
    print(f"| nginx static file, {rc} connections | {spread([x[0] for x in na], n)} | {spread([x[1] for x in na], ms)} | - |")
    print(f"| nginx static file, {split_ev} connections | {spread([x[0] for x in nb], n)} | {spread([x[1] for x in nb], ms)} | - |")
mc = [res["mix"][i]["rps"] / res["cache"][i]["rps"] for i in range(rounds)]
print(f"mix / cache-only throughput, per round: {spread(mc, r2)}")
PY
