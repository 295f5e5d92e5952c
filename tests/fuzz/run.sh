#!/usr/bin/env bash
# Builds the libFuzzer harnesses (the `fuzz` preset: clang, ASan + UBSan, build/fuzz) and runs
# each for a bounded time (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [--seconds N] [--runs N] [--seed N] [--nice] [HARNESS ...]
#     --seconds N   per harness, -max_total_time (default 25; $MARQUEE_FUZZ_SECONDS overrides)
#     --runs N      per harness, at most N executions as well (default: no limit)
#     --seed N      libFuzzer's -seed (default 0: a new random seed each run). A fixed seed
#                   replays the same inputs in the same order, so a shorter run on a slower
#                   machine tries a prefix of what a longer run tried (scripts/test uses 1)
#     --nice        run at nice 10 (long runs on a shared machine)
#     --no-build    use the binaries already in build/fuzz
#   tests/fuzz/run.sh --available   exit 0 when clang and libFuzzer can build a harness here
#
# One harness at a time, one worker. New inputs go to build/fuzz/work/<harness> (the seed
# corpus in tests/fuzz/corpus/<harness> is only read); $MARQUEE_FUZZ_WORK names another folder
# for them (an empty one replays CI's stage exactly: --runs 30000 --seed 1). A crash, leak,
# timeout or sanitizer finding stops that harness: the reproducer is saved as
# build/fuzz/artifacts/<harness>/<time>/crash-<sha1> (its path and, when small, its hex dump
# are printed) and the script exits 1 after the remaining harnesses have run. Reproduce with:
# build/fuzz/tests/fuzz/fuzz_<harness> <that file>.
# Prints one line per harness: "fuzz <harness>: <executions> runs in <s> s, <status>".
set -uo pipefail
cd "$(dirname "$0")/../.."

ALL=(http csv interactions tabular_csv bandit_jsonl obd config artifact snapshot xgb_model)

available() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local tmp
  tmp=$(mktemp -d) || return 1
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$tmp/t.cc"
  clang++ -fsanitize=fuzzer,address,undefined "$tmp/t.cc" -o "$tmp/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

seconds="${MARQUEE_FUZZ_SECONDS:-25}"
runs=""
seed=0
nice_cmd=()
build=1
harnesses=()
while (($# > 0)); do
  case "$1" in
    --available) available; exit $? ;;
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --nice) nice_cmd=(nice -n 10); shift ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
((${#harnesses[@]} == 0)) && harnesses=("${ALL[@]}")

if ! available; then
  echo "fuzz: SKIPPED: clang++ with libFuzzer (Debian: clang, libclang-rt-14-dev) is not available"
  exit 0
fi

if ((build)); then
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake --preset fuzz >/dev/null || exit 1
  targets=()
  for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
  "${nice_cmd[@]}" cmake --build --preset fuzz -j "$jobs" --target "${targets[@]}" || exit 1
fi

failed=0
for h in "${harnesses[@]}"; do
  bin="build/fuzz/tests/fuzz/fuzz_$h"
  work="${MARQUEE_FUZZ_WORK:-build/fuzz/work}/$h"
  artifacts="build/fuzz/artifacts/$h/$(date -u +%Y%m%dT%H%M%SZ)"  # this run's findings only
  log="build/fuzz/logs/$h-$(date -u +%Y%m%dT%H%M%SZ).log"
  mkdir -p "$work" "$artifacts" "build/fuzz/logs"
  args=(-max_total_time="$seconds" -seed="$seed" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1
        -artifact_prefix="$artifacts/")  # one process: no -jobs/-workers
  [ -n "$runs" ] && args+=(-runs="$runs")
  start=$(date +%s)
  # ASan: a leak or error ends the run with the input saved; UBSan: abort on the first finding.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "${nice_cmd[@]}" "$bin" "${args[@]}" "$work" "tests/fuzz/corpus/$h" >"$log" 2>&1
  rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if ((rc == 0)); then
    echo "fuzz $h: ${execs:-?} runs in ${elapsed} s, no crash"
    continue
  fi
  failed=1
  echo "fuzz $h: ${execs:-?} runs in ${elapsed} s, FAILED (exit $rc); last lines of $log:"
  tail -n 40 "$log" | sed 's/^/    /'
  for f in "$artifacts"/*; do
    [ -f "$f" ] || continue
    echo "    reproducer: $f ($(stat -c %s "$f") bytes); rerun: $bin $f"
    if [ "$(stat -c %s "$f")" -le 4096 ]; then od -An -tx1 -v "$f" | sed 's/^/      /'; fi
  done
done
exit $failed
