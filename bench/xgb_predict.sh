#!/bin/bash
# Predict latency: Marquee's Predictor (XGBoost C API, in-process) vs python3-xgboost's
# inplace_predict, on the same model file and rows, in the same run.
#   bench/xgb_predict.sh BUILD_DIR [NTHREAD]
# Trains the benchmark model with python3-xgboost on UCI credit-card default (300 rounds,
# depth 4), then times 1-row and 1,000-row predictions with both, and over HTTP through
# `marquee serve` (POST /v1/predict). Prints python's timings (one JSON line), Marquee's
# (bench_xgb_predict: Google Benchmark aggregates over single-call repetitions, the p50 being
# the median row, in microseconds) and the HTTP timings (one JSON line).
set -euo pipefail
build=${1:?usage: bench/xgb_predict.sh BUILD_DIR [NTHREAD]}
nthread=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
data=${MARQUEE_SHARED_DATA:-$here/../../shared/data}/uci-credit-card-default/UCI_Credit_Card.csv
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 "$here/reference/xgb_inplace_predict.py" train "$data" "$out" >&2
/usr/bin/python3 "$here/reference/xgb_inplace_predict.py" time "$out" "$nthread"
"$build/bench/bench_xgb_predict" "$out/model.json" "$out/rows.csv" "$nthread"
# Over HTTP: import the same model, serve it, time /v1/predict on the same rows.
"$build/tools/marquee/marquee" --home "$out/home" -q models import "$out/model.json" --name bench \
  --family xgboost --json >/dev/null
"$build/tools/marquee/marquee" --home "$out/home" -q --threads "$nthread" serve --port 0 \
  --port-file "$out/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
/usr/bin/python3 "$here/reference/xgb_http_predict.py" "$(cat "$out/port")" bench/1 "$out/rows.csv"
