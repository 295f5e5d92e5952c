#!/usr/bin/env bash
# Training benchmarks on a synthetic dataset of MovieLens-20M shape (138k users, 27k items,
# 20M interactions, power-law popularity). Writes bench/out/ml20m/*.json and prints a markdown
# summary (bench/reference/summarize_ml20m.py) for docs/BENCHMARKS.md.
#
#   bench/ml20m_shape.sh            everything (about 20 minutes on 2 cores)
#   SKIP_NUMPY=1 bench/ml20m_shape.sh   without the numpy inverse (the slowest step)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/tools/marquee/marquee
OUT=bench/out/ml20m
HOME_DIR=bench/out/home
mkdir -p "$OUT" "$HOME_DIR"
TIME=/usr/bin/time
run() {  # name, then the command; records stdout JSON and peak memory
  local name=$1
  shift
  echo "== $name: $*" >&2
  "$TIME" -f '{"max_rss_kb": %M, "wall_s": %e}' -o "$OUT/$name.time" "$@" >"$OUT/$name.json"
}

if [ ! -s "$OUT/generate.json" ]; then
  run generate "$BIN" --home "$HOME_DIR" -q dataset generate --name ml20m-shape \
    --users 138000 --items 27000 --interactions 20000000 --json
fi
run ease "$BIN" --home "$HOME_DIR" -q train bench/configs/ml20m-ease.toml --json
run ials64 "$BIN" --home "$HOME_DIR" -q train bench/configs/ml20m-ials.toml --json \
  --set model.factors=64
run ials128 "$BIN" --home "$HOME_DIR" -q train bench/configs/ml20m-ials.toml --json \
  --set model.factors=128
run bpr "$BIN" --home "$HOME_DIR" -q train bench/configs/ml20m-bpr.toml --json

snapshot=$(/usr/bin/python3 -c "import json;print(json.load(open('$OUT/generate.json'))['path'])")
npy_args=()
if [ -z "${SKIP_NUMPY:-}" ]; then npy_args=(--npy "$OUT/gram.npy"); fi
run linalg build/release/bench/bench_ease_inverse --snapshot "$snapshot" --items 20000 \
  "${npy_args[@]}" --benchmark_format=json
if [ -z "${SKIP_NUMPY:-}" ]; then
  run numpy /usr/bin/python3 bench/reference/numpy_inv.py "$OUT/gram.npy"
  rm -f "$OUT/gram.npy"
fi
/usr/bin/python3 bench/reference/summarize_ml20m.py "$OUT"
