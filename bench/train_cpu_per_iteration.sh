#!/usr/bin/env bash
# CPU seconds (user + sys, all threads) per training iteration or epoch of `marquee train`, for
# builds compared on a shared, loaded machine where wall time is mostly waiting for a core: each
# job is trained with N iterations and with 0, and the difference in process CPU time is divided
# by N (loading, splitting, evaluation and the families' fixed setup cancel out). Builds
# alternate within each round.
#
#   bench/train_cpu_per_iteration.sh HOME CONFIG KEY N ROUNDS BIN... [-- extra train flags]
#   e.g. bench/train_cpu_per_iteration.sh bench/out/home bench/configs/ml20m-ials.toml \
#          iterations 3 2 /tmp/old/marquee build/release/tools/marquee/marquee -- --set model.factors=128
set -euo pipefail
usage="usage: $0 HOME CONFIG KEY N ROUNDS BIN... [-- extra train flags]"
home=${1:?$usage}
config=${2:?$usage}
key=${3:?$usage}
n=${4:?$usage}
rounds=${5:?$usage}
shift 5
bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  bins+=("$1")
  shift
done
[ $# -gt 0 ] && shift  # the "--"
cpu() {  # bin, value, extra flags: CPU seconds of one training
  local bin=$1 value=$2
  shift 2
  /usr/bin/time -f '%U %S' "$bin" --home "$home" -q train "$config" --json \
    --set "model.$key=$value" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}'
}
for round in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    zero=$(cpu "$bin" 0 "$@")
    full=$(cpu "$bin" "$n" "$@")
    echo "round $round $bin: $(awk -v a="$zero" -v b="$full" -v n="$n" \
      'BEGIN {printf "%.3f", (b - a) / n}') CPU s per $key (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  done
done
