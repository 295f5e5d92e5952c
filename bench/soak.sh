#!/usr/bin/env bash
# Soak test of `marquee serve` (not in CI): mixed valid traffic from wrk, bad bytes from a
# malformed-request generator, and a promotion + /admin/reload every minute, for DURATION; then
# kill -9, count what the logs hold against what was acknowledged, restart and check every
# exactly-accounted write. Prints a summary table; exits 1 when a criterion fails, 77 (skip)
# when wrk or the shared data is missing.
#
#   bench/soak.sh [BUILD_DIR]        (default build/release)
#   DURATION=3m bench/soak.sh        (a smoke run; default 30m; s, m or h suffix)
#
# Models (trained in a scratch home, about a minute): EASE on ML-100K (two versions), LinUCB on
# the Open Bandit men/random sample (two versions), XGBoost on UCI credit-card default (two
# versions), each promoted to @production; the promotion loop flips all three between their
# versions every PROMOTE_EVERY seconds and then POSTs /admin/reload (the 5 s poll runs too).
#
# Traffic, all on 127.0.0.1 (bench/soak.lua, bench/soak_client.py):
#   wrk, one process per stream, -t1 -c$CONNS each, for DURATION:
#     recommend  60% members with no new events, 20% members the events stream plays for
#                (their score cache is bypassed), 20% anonymous histories
#     events     1-4 plays per request, half for those members, half for new users
#     decide     /v1/decide on Open Bandit contexts (34 actions), /v1/reward for half of them
#     predict    /v1/predict with 1-8 UCI rows
#   ledger       one event per unique user, decisions and rewards, every acknowledged one noted
#   malformed    bad bytes (see soak_client.py), bounded by MALFORMED_MAX and DURATION, plus
#                16 slow partial requests and a flood of 64 idle connections every minute
#
# Criteria (each a row of the summary):
#   - the server stays up for the whole run (a crash is reported with its signal, the tail of
#     its log and the last malformed case it was sent)
#   - valid requests: no 5xx, and none answered other than 2xx (no 4xx, socket errors, timeouts)
#   - malformed requests: no 5xx
#   - every promotion and reload succeeds
#   - no acknowledged write lost after kill -9: the event log holds at least the acknowledged
#     events, the decision log at least the acknowledged decisions and joined rewards, and every
#     ledger event / decision / reward is found after a restart
#   - RSS flat: the median VmRSS of the last third of the run (the last 10 of 30 minutes) is
#     within 10% of the median over the second sixth (minutes 5-10); sampled every 10 s
#   - open file descriptors flat: same windows, within 10% plus 4
#   (RSS and fds are judged only for DURATION >= 10m; shorter runs print them, unjudged)
#
# Env: DURATION (30m), CONNS (connections per wrk stream, 2), THINK_MS (pause per connection
#      between requests, 0), SERVE_THREADS (2), PROMOTE_EVERY (60 s), MALFORMED_MAX (100000),
#      REPORT_DIR (where the summary, samples and logs are kept; bench/out/soak),
#      MALFORMED_SKIP (comma-separated malformed case-name prefixes to leave out, e.g.
#      "utf8-path" while a known crash is being fixed; the summary lists them),
#      KEEP_HOME=1 (keep the scratch home in REPORT_DIR/home).
# Takes /tmp/marquee-bench.lock while it runs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${1:-build/release}
BIN=$ROOT/$BUILD/tools/marquee/marquee
DATA=${MARQUEE_SHARED_DATA:-$(cd .. && pwd)/shared/data}
DURATION=${DURATION:-30m}
CONNS=${CONNS:-2}
THINK_MS=${THINK_MS:-0}
SERVE_THREADS=${SERVE_THREADS:-2}
PROMOTE_EVERY=${PROMOTE_EVERY:-60}
MALFORMED_MAX=${MALFORMED_MAX:-100000}
REPORT_DIR=${REPORT_DIR:-$ROOT/bench/out/soak}
PY=/usr/bin/python3

to_seconds() {
  case "$1" in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
SECS=$(to_seconds "$DURATION")
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 60 ] || {
  echo "soak: DURATION must be at least 60s (e.g. 3m, 30m), got '$DURATION'" >&2
  exit 2
}
command -v wrk >/dev/null || { echo "soak: wrk is not installed (apt-get install wrk)" >&2; exit 77; }
for f in movielens-100k/u.data open-bandit-dataset/random/men/men.csv \
  uci-credit-card-default/UCI_Credit_Card.csv; do
  [ -f "$DATA/$f" ] || { echo "soak: $DATA/$f is absent" >&2; exit 77; }
done
[ -x "$BIN" ] || { echo "soak: no binary at $BIN (build it first)" >&2; exit 2; }

OUT=$(mktemp -d /tmp/marquee-soak.XXXXXX)
HOME_DIR=$OUT/home
source bench/lib.sh
mkdir -p "$REPORT_DIR"
keep_report() {
  cp -f "$OUT"/serve*.log "$OUT"/samples.tsv "$OUT"/wrk-*.txt "$OUT"/malformed.* "$OUT"/ledger* \
    "$OUT"/promotions.tsv "$OUT"/promote.log "$OUT"/summary.md "$OUT"/verify.json \
    "$REPORT_DIR"/ 2>/dev/null || true
  if [ "${KEEP_HOME:-0}" = 1 ] && [ -d "$OUT/home" ]; then
    rm -rf "$REPORT_DIR/home" "$REPORT_DIR/pool"
    cp -r "$OUT/home" "$OUT/pool" "$REPORT_DIR"/ 2>/dev/null || true
  fi
}
trap 'keep_report; bench_cleanup' EXIT
q() { "$BIN" --home "$HOME_DIR" -q "$@"; }
log() { echo "[soak $(date -u +%H:%M:%S)] $*" >&2; }

# --- models -----------------------------------------------------------------------------------
bench_lock
log "training: EASE on ML-100K, LinUCB on Open Bandit (men, random), XGBoost on UCI"
set -e
train_ml100k_ease "$BIN" "$HOME_DIR" "$DATA"
q train "$OUT/ease.toml" --set model.lambda=500 >/dev/null
q dataset import --format obd --name obd-men-random \
  "$DATA/open-bandit-dataset/random/men/men.csv" >/dev/null
cat >"$OUT/artwork.toml" <<TOML
[data]
dataset = "obd-men-random"
[split]
protocol = "temporal"
test_fraction = 0.3
[model]
family = "linucb"
name = "artwork"
alpha = 0.1
features = { dim = 64 }
TOML
q train "$OUT/artwork.toml" >/dev/null
q train "$OUT/artwork.toml" --set model.alpha=0.5 >/dev/null
q models promote artwork/1 --alias production >/dev/null
cat >"$OUT/payment.toml" <<TOML
[data]
train = "$DATA/uci-credit-card-default/UCI_Credit_Card.csv"
label = "Y"
drop = ["ID"]
[split]
protocol = "stratified-holdout"
test_fraction = 0.2
[model]
family = "xgboost"
name = "payment"
objective = "binary:logistic"
max_depth = 4
eta = 0.1
num_round = 60
[eval]
metrics = ["auc"]
TOML
q train "$OUT/payment.toml" >/dev/null
q train "$OUT/payment.toml" --set model.max_depth=3 >/dev/null
q models promote payment/1 --alias production >/dev/null
$PY bench/soak_client.py prepare "$OUT/pool" "$DATA"
set +e
log "models and request pools ready after ${SECONDS}s"

# --- server -----------------------------------------------------------------------------------
PORT=$(free_port)
SERVE_PID=
start_server() {  # LOGFILE
  "$BIN" --home "$HOME_DIR" --threads "$SERVE_THREADS" serve --port "$PORT" \
    --model ml100k-ease@production --bandit artwork@production --reward-window 60 \
    2>"$1" &
  SERVE_PID=$!
  pids+=($SERVE_PID)
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: the server did not become ready; its log:" >&2
  tail -20 "$1" >&2
  return 1
}
start_server "$OUT/serve.log" || exit 1
URL=http://127.0.0.1:$PORT
# One valid request per route first: if these fail, the traffic (not the server) is wrong.
for route in recommend:anon_bodies decide:decide_bodies predict:predict_bodies; do
  body=$(head -1 "$OUT/pool/${route#*:}.jsonl")
  code=$(curl -s -o "$OUT/check.json" -w '%{http_code}' -XPOST "$URL/v1/${route%%:*}" -d "$body")
  [ "$code" = 200 ] || { echo "soak: /v1/${route%%:*} answered $code: $(cat "$OUT/check.json")" >&2; exit 1; }
done

# --- traffic ----------------------------------------------------------------------------------
log "soak for ${SECS}s on port $PORT (server pid $SERVE_PID); samples every 10 s"
streams=(recommend events decide predict)
wrk_pids=()
for s in "${streams[@]}"; do
  wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 10s -s bench/soak.lua "$URL" -- "$s" "$OUT/pool" \
    "$THINK_MS" >"$OUT/wrk-$s.txt" 2>&1 &
  wrk_pids+=($!)
  pids+=($!)
done
$PY bench/soak_client.py ledger "$PORT" "$SECS" "$OUT/ledger.txt" "$OUT/pool" \
  >"$OUT/ledger.json" 2>"$OUT/ledger.err" &
LEDGER_PID=$!
pids+=($LEDGER_PID)
$PY bench/soak_client.py malformed "$PORT" "$SECS" "$MALFORMED_MAX" "$OUT/malformed.log" \
  "$OUT/pool" "${MALFORMED_SKIP:-}" >"$OUT/malformed.json" 2>"$OUT/malformed.err" &
MALFORMED_PID=$!
pids+=($MALFORMED_PID)

sample() {  # ELAPSED
  local rss fds thr
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null) || return 1
  thr=$(awk '/^Threads:/ {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null) || return 1
  fds=$(ls "/proc/$SERVE_PID/fd" 2>/dev/null | wc -l)
  [ -n "$rss" ] || return 1
  printf '%s\t%s\t%s\t%s\n' "$1" "$rss" "$fds" "$thr" >>"$OUT/samples.tsv"
}
printf 'second\tvmrss_kb\tfds\tthreads\n' >"$OUT/samples.tsv"
printf 'second\tversion\tpromote_rc\treload_http\n' >"$OUT/promotions.tsv"
start=$(date +%s)
next_sample=0
# The first promotion comes at PROMOTE_EVERY, or half-way through a run shorter than that.
next_promote=$((PROMOTE_EVERY < SECS ? PROMOTE_EVERY : SECS / 2))
version=1
died=0
death=""
while :; do
  now=$(($(date +%s) - start))
  if ! kill -0 "$SERVE_PID" 2>/dev/null; then
    wait "$SERVE_PID"
    rc=$?
    died=1
    if [ "$rc" -gt 128 ]; then
      death="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null)) after ${now}s"
    else
      death="exited with status $rc after ${now}s"
    fi
    log "THE SERVER DIED: $death"
    break
  fi
  [ "$now" -ge "$SECS" ] && break
  if [ "$now" -ge "$next_sample" ]; then
    sample "$now"
    next_sample=$((next_sample + 10))
  fi
  if [ "$now" -ge "$next_promote" ]; then
    version=$((3 - version))
    prc=0
    for m in ml100k-ease artwork payment; do
      q models promote "$m/$version" --alias production >>"$OUT/promote.log" 2>&1 || prc=$?
    done
    reload=$(curl -s -o /dev/null -m 60 -w '%{http_code}' -XPOST "$URL/admin/reload")
    printf '%s\t%s\t%s\t%s\n' "$now" "$version" "$prc" "$reload" >>"$OUT/promotions.tsv"
    log "promoted all three to v$version (rc $prc), /admin/reload $reload"
    next_promote=$((next_promote + PROMOTE_EVERY))
  fi
  sleep 1
done

# --- wind down --------------------------------------------------------------------------------
if [ "$died" = 1 ]; then
  for p in "${wrk_pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  kill -TERM "$LEDGER_PID" "$MALFORMED_PID" 2>/dev/null
else
  sample "$SECS"
fi
for p in "${wrk_pids[@]}" "$LEDGER_PID" "$MALFORMED_PID"; do wait "$p" 2>/dev/null; done
swaps=$(curl -s -m 5 "$URL/metrics" | awk '/^marquee_model_swaps_total/ {print $2}')
if [ "$died" = 0 ]; then
  log "kill -9 of the server (acknowledged writes must survive it)"
  kill -KILL "$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID" 2>/dev/null
fi

# Count what the logs hold (both exports open the logs read-only; the server is down).
q decisions export --format jsonl --include-open --out "$OUT/decisions.jsonl" 2>"$OUT/export.err"
logged_decisions=$(wc -l <"$OUT/decisions.jsonl" 2>/dev/null || echo 0)
logged_joined=$($PY -c 'import json, sys
print(sum(json.loads(l).get("outcome", {}).get("kind") == "joined" for l in open(sys.argv[1])))' \
  "$OUT/decisions.jsonl" 2>/dev/null || echo 0)
logged_events=$(q dataset import --from-events --name soak-events --json 2>"$OUT/import.err" |
  $PY -c 'import json, sys; print(json.load(sys.stdin)["events"])' 2>/dev/null || echo 0)

# Restart and check every ledger write through the API and the exported log.
log "restart and verify the ledger"
if start_server "$OUT/serve-restart.log"; then
  $PY bench/soak_client.py verify "$PORT" "$OUT/ledger.txt" "$OUT/decisions.jsonl" \
    >"$OUT/verify.json" 2>"$OUT/verify.err"
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null
else
  echo '{"restart": "failed"}' >"$OUT/verify.json"
fi

# --- criteria ---------------------------------------------------------------------------------
$PY - "$OUT" "$SECS" "$died" "$death" "${swaps:-?}" "$logged_events" "$logged_decisions" \
  "$logged_joined" "${MALFORMED_SKIP:-}" <<'PY'
import json, os, re, statistics, sys

out, secs, died, death, swaps = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
logged_events, logged_decisions, logged_joined = (int(x or 0) for x in sys.argv[6:9])
skipped = sys.argv[9]
rows = []  # (criterion, measured, pass)

def load_json(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None

streams = {}
wrk_errors = {}
for s in ("recommend", "events", "decide", "predict"):
    text = open(os.path.join(out, f"wrk-{s}.txt")).read()
    m = re.search(r"^SOAK (.*)$", text, re.M)
    streams[s] = {k: (float(v) if "." in v else int(v) if v.isdigit() else v)
                  for k, v in (kv.split("=") for kv in m.group(1).split())} if m else None
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    wrk_errors[s] = sum(int(x) for x in e.groups()) if e else 0
ledger = load_json("ledger.json") or {}
malformed = load_json("malformed.json") or {}
verify = load_json("verify.json") or {}

rows.append(("server up for the whole run", death if died else f"up {secs}s", not died))

valid = sum(v["responses"] for v in streams.values() if v)
v5 = sum(v["s5xx"] for v in streams.values() if v) + sum(
    n for k, n in ledger.items() if re.match(r"\w+_5\d\d$", k))
v_other = sum(v["s4xx"] + v["other"] + v["bad_body"] for v in streams.values() if v) + sum(
    n for k, n in ledger.items() if re.match(r"\w+_(4\d\d|0)$", k)) + sum(wrk_errors.values())
missing_streams = [s for s, v in streams.items() if v is None]
rows.append(("valid requests: zero 5xx",
             f"{v5} 5xx in {valid:,} wrk responses + {sum(ledger.values()) if ledger else 0:,} "
             f"ledger requests" + (f"; no summary from wrk {missing_streams}" if missing_streams else ""),
             v5 == 0 and not missing_streams))
rows.append(("valid requests: all 2xx (no 4xx, socket errors, timeouts)",
             f"{v_other} not 2xx (socket errors/timeouts {sum(wrk_errors.values())}"
             + (", mostly connects refused after the server died)" if died else ")"), v_other == 0))
for s, v in streams.items():
    if v:
        rows.append((f"  wrk {s}", f"{v['responses']:,} responses, {v['responses'] / secs:,.0f}/s, "
                     f"p99 {v['p99_ms']:.2f} ms", None))
mo = malformed.get("outcomes", {})
rows.append(("malformed requests: zero 5xx",
             f"{malformed.get('sent', 0):,} sent ({malformed.get('distinct_cases', 0)} kinds): "
             + ", ".join(f"{k} {v}" for k, v in sorted(mo.items()))
             + (f"; 5xx from {sorted(malformed['cases_with_5xx'])}" if malformed.get("cases_with_5xx") else ""),
             bool(malformed) and mo.get("s5xx", 0) == 0))
if skipped:
    rows.append(("  malformed cases left out (MALFORMED_SKIP)", skipped, None))
if malformed.get("cases_with_2xx"):
    rows.append(("  malformed answered 2xx (accepted)", ", ".join(sorted(malformed["cases_with_2xx"])), None))
if died and malformed.get("last_case"):
    rows.append(("  last malformed case the server took in", malformed["last_case"], None))

promos = [l.split("\t") for l in open(os.path.join(out, "promotions.tsv")).read().splitlines()[1:]]
bad_promos = [p for p in promos if p[2] != "0" or p[3] != "200"]
rows.append(("promotions and /admin/reload succeed",
             f"{len(promos)} rounds x 3 models, {len(bad_promos)} failed; swaps {swaps}",
             len(promos) > 0 and not bad_promos))

acked_events = sum(v["acked_events"] for v in streams.values() if v) + verify.get("ledger_events", 0)
acked_decisions = sum(v["acked_decisions"] for v in streams.values() if v) + verify.get("ledger_decisions", 0)
acked_rewards = sum(v["acked_rewards"] for v in streams.values() if v) + verify.get("ledger_rewards", 0)
rows.append(("acknowledged events in the log after kill -9",
             f"log {logged_events:,} >= acknowledged {acked_events:,}; ledger "
             f"{verify.get('ledger_events', '?')} checked, {verify.get('events_missing', '?')} missing",
             logged_events >= acked_events and verify.get("events_missing") == 0))
rows.append(("acknowledged decisions in the log",
             f"log {logged_decisions:,} >= acknowledged {acked_decisions:,}; ledger "
             f"{verify.get('ledger_decisions', '?')} checked, {verify.get('decisions_missing', '?')} missing",
             logged_decisions >= acked_decisions and verify.get("decisions_missing") == 0))
rows.append(("acknowledged rewards joined in the log",
             f"joined {logged_joined:,} >= acknowledged {acked_rewards:,}; ledger "
             f"{verify.get('ledger_rewards', '?')} checked, {verify.get('rewards_missing', '?')} missing",
             logged_joined >= acked_rewards and verify.get("rewards_missing") == 0))

samples = [l.split("\t") for l in open(os.path.join(out, "samples.tsv")).read().splitlines()[1:]]
samples = [(int(a), int(b), int(c), int(d)) for a, b, c, d in samples]
base = [s for s in samples if secs / 6 <= s[0] <= secs / 3]
final = [s for s in samples if s[0] >= secs * 2 / 3]
if secs < 600:
    rows.append(("RSS and fds (not judged: under 10 minutes the windows are still warm-up)",
                 f"VmRSS {samples[0][1] / 1024:.1f} -> {samples[-1][1] / 1024:.1f} MiB, max "
                 f"{max(s[1] for s in samples) / 1024:.1f}; fds {samples[0][2]} -> {samples[-1][2]}, "
                 f"max {max(s[2] for s in samples)}" if samples else "no samples", None))
elif base and final and not died:
    b_rss, f_rss = statistics.median(s[1] for s in base), statistics.median(s[1] for s in final)
    b_fd, f_fd = statistics.median(s[2] for s in base), statistics.median(s[2] for s in final)
    rows.append(("RSS flat (median, last third vs second sixth)",
                 f"{f_rss / 1024:.1f} MiB vs {b_rss / 1024:.1f} MiB ({(f_rss / b_rss - 1) * 100:+.1f}%); "
                 f"max {max(s[1] for s in samples) / 1024:.1f} MiB", f_rss <= b_rss * 1.10))
    xs = [s[0] / 60 for s in final]
    ys = [s[1] / 1024 for s in final]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
    rows.append(("  RSS slope over the last third (least squares)", f"{slope:+.2f} MiB/min", None))
    rows.append(("open fds flat (same windows)",
                 f"{f_fd:.0f} vs {b_fd:.0f}; max {max(s[2] for s in samples)}; threads "
                 f"{min(s[3] for s in samples)}-{max(s[3] for s in samples)}", f_fd <= b_fd * 1.10 + 4))
else:
    rows.append(("RSS and fds flat", f"not judged: {len(samples)} samples"
                 + (" (the server died)" if died else ""), False))

def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / 2**20
rows.append(("  on disk after the run (RocksDB; 8 MiB memtables)",
             f"events {du(os.path.join(out, 'home/events')):.1f} MiB, decisions "
             f"{du(os.path.join(out, 'home/decisions')):.1f} MiB", None))
lines = [f"## Soak summary ({secs}s)", "", "| criterion | measured | result |", "|---|---|---|"]
for name, measured, ok in rows:
    lines.append(f"| {name} | {measured} | {'' if ok is None else 'PASS' if ok else '**FAIL**'} |")
failed = [r for r in rows if r[2] is False]
lines.append("")
lines.append("RESULT: " + ("PASS" if not failed else f"FAIL ({len(failed)} criteria)"))
text = "\n".join(lines)
print(text)
open(os.path.join(out, "summary.md"), "w").write(text + "\n")
sys.exit(1 if failed else 0)
PY
result=$?
if [ "$died" = 1 ]; then
  echo
  echo "The server died ($death). Last lines of its log:"
  tail -15 "$OUT/serve.log"
  echo "Last malformed cases sent ($REPORT_DIR/malformed.log):"
  tail -6 "$OUT/malformed.log" 2>/dev/null
fi
echo "Samples, logs and this summary: $REPORT_DIR"
exit "$result"
