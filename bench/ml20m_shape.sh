#!/usr/bin/env bash
# Training benchmarks on a synthetic dataset of MovieLens-20M shape (138k users, 27k items,
# 20M interactions, power-law popularity). Writes bench/out/ml20m/*.json and prints a markdown
# summary (bench/reference/summarize_ml20m.py) for docs/BENCHMARKS.md.
#
# Every training job runs twice: from the imported snapshot (NAME.json / NAME.time) and from a
# TSV file of the same rows (NAME-tsv.json / NAME-tsv.time, the file written once by
# bench/reference/export_snapshot_tsv.py), each with its peak RSS (GNU time). The machine's
# SGEMM peak (bench_ease_inverse's gemm_peak) and memory bandwidth (bench_serve_scoring's STREAM
# triad) are measured in the same run (machine.json, linalg.json) for the fraction-of-peak
# columns.
#
#   bench/ml20m_shape.sh                 everything (about 30 minutes on 2 quiet cores)
#   SKIP_NUMPY=1 bench/ml20m_shape.sh    without the numpy inverse (the slowest step)
#   SKIP_EASE=1 bench/ml20m_shape.sh     without EASE and its dense core (iALS and BPR only)
#   BIN=/other/marquee bench/ml20m_shape.sh   another build (a before/after comparison)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/release/tools/marquee/marquee}
BENCH=${BENCH:-build/release/bench}
OUT=${OUT:-bench/out/ml20m}
HOME_DIR=${HOME_DIR:-bench/out/home}
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
snapshot=$(/usr/bin/python3 -c "import json;print(json.load(open('$OUT/generate.json'))['path'])")
tsv="$OUT/ml20m-shape.tsv"
if [ ! -s "$tsv" ]; then
  /usr/bin/python3 bench/reference/export_snapshot_tsv.py "$snapshot" "$tsv.tmp"
  mv "$tsv.tmp" "$tsv"
fi
# The same configs reading the TSV file instead of the snapshot.
for job in ease ials bpr; do
  sed "s|^dataset = \"ml20m-shape\"|train = \"$(realpath "$tsv")\"|" "bench/configs/ml20m-$job.toml" \
    >"$OUT/ml20m-$job-tsv.toml"
done

# The machine's ceilings, measured in this run.
run machine "$BENCH/bench_serve_scoring" 1000 16 --benchmark_filter='triad' \
  --benchmark_format=json

train() {  # name, config, extra flags: from the snapshot, then from the TSV file
  local name=$1 job=$2
  shift 2
  run "$name" "$BIN" --home "$HOME_DIR" -q train "bench/configs/ml20m-$job.toml" --json "$@"
  run "$name-tsv" "$BIN" --home "$HOME_DIR" -q train "$OUT/ml20m-$job-tsv.toml" --json "$@"
}
if [ -z "${SKIP_EASE:-}" ]; then train ease ease; fi
train ials64 ials --set model.factors=64
train ials128 ials --set model.factors=128
train bpr bpr

if [ -z "${SKIP_EASE:-}" ]; then
  npy_args=()
  if [ -z "${SKIP_NUMPY:-}" ]; then npy_args=(--npy "$OUT/gram.npy"); fi
  run linalg "$BENCH/bench_ease_inverse" --snapshot "$snapshot" --items 20000 \
    "${npy_args[@]}" --benchmark_format=json
  if [ -z "${SKIP_NUMPY:-}" ]; then
    run numpy /usr/bin/python3 bench/reference/numpy_inv.py "$OUT/gram.npy"
    rm -f "$OUT/gram.npy"
  fi
else
  run linalg "$BENCH/bench_ease_inverse" --snapshot "$snapshot" --items 20000 \
    --benchmark_filter='gemm_peak/sgemm' --benchmark_format=json
fi
/usr/bin/python3 bench/reference/summarize_ml20m.py "$OUT"
