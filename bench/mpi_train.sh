#!/usr/bin/env bash
# Distributed training (issue #18) on this machine: the same iALS, BPR and EASE jobs in one
# process (THREADS threads) and under `mpirun -np RANKS` (THREADS/RANKS threads each), on a
# synthetic dataset of MovieLens-20M shape (138k users, 27k items) with INTERACTIONS rows (2M by
# default, a tenth of ML-20M: the factor matrices, hence the communication, are ML-20M's; the
# compute is a tenth). Prints each job's fit time and wall time, iALS's largest factor
# difference between the two, the recall of both, and the peak RSS (VmHWM, /usr/bin/time's
# maximum resident set) of the process and of every rank; the inputs of docs/SCALING.md's
# "Distributed training". Writes bench/out/mpi/.
#
#   bench/mpi_train.sh                          2M interactions, 1 process vs 2 ranks
#   RANKS="2 4" JOBS="ials ease" bench/mpi_train.sh    -np 2 and -np 4, iALS and EASE only
#   INTERACTIONS=20000000 bench/mpi_train.sh    the full ML-20M shape
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/release/tools/marquee/marquee}
OUT=${OUT:-bench/out/mpi}
USERS=${USERS:-138000}
ITEMS=${ITEMS:-27000}
INTERACTIONS=${INTERACTIONS:-2000000}
THREADS=${THREADS:-2}
RANKS=${RANKS:-2}  # one rank count or several ("2 4")
JOBS=${JOBS:-ials bpr ease}
FACTORS=${FACTORS:-64}
HOME_DIR=$OUT/home
mkdir -p "$OUT" "$HOME_DIR"
# Root in CI containers; ranks waiting in a collective yield their core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
name="mpi-shape-$INTERACTIONS"
if ! "$BIN" --home "$HOME_DIR" -q dataset show "$name" --json >/dev/null 2>&1; then
  "$BIN" --home "$HOME_DIR" -q dataset generate --name "$name" --users "$USERS" --items "$ITEMS" \
    --interactions "$INTERACTIONS" --json >"$OUT/generate.json"
fi
config() {  # family, extra [model] lines
  cat >"$OUT/$1.toml" <<TOML
[data]
dataset = "$name"
positive_threshold = 3.5
[split]
protocol = "strong-generalization"
test_users = 5000
seed = 98765
refit = false
[model]
family = "$1"
$2
[eval]
metrics = ["recall@20", "ndcg@100"]
TOML
}
config ials "factors = $FACTORS
iterations = 3"
config bpr "factors = $FACTORS
epochs = 2"
config ease "max_items = 4000"
echo "uptime: $(uptime)" | tee "$OUT/load.txt"
for job in $JOBS; do
  # Peak RSS in KiB: of the process, and of each rank (each rank runs under its own
  # /usr/bin/time, writing $job-$ranks.rss.<rank>).
  /usr/bin/time -f '%e %M' -o "$OUT/$job-1.wall" "$BIN" --home "$HOME_DIR" -q \
    --threads "$THREADS" train "$OUT/$job.toml" --json >"$OUT/$job-1.json"
  for ranks in $RANKS; do
    /usr/bin/time -f '%e' -o "$OUT/$job-$ranks.wall" mpirun --oversubscribe -np "$ranks" \
      sh -c '/usr/bin/time -f %M -o "$0.rss.$OMPI_COMM_WORLD_RANK" "$@"' "$OUT/$job-$ranks" \
      "$BIN" --home "$HOME_DIR" -q --threads $((THREADS / ranks > 0 ? THREADS / ranks : 1)) \
      train "$OUT/$job.toml" --json >"$OUT/$job-$ranks.json"
  done
done
echo "uptime: $(uptime)" | tee -a "$OUT/load.txt"
/usr/bin/python3 - "$OUT" "$RANKS" "$JOBS" <<'PY'
import json, struct, sys
import numpy as np
out, rank_counts, jobs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def tensors(path):
    raw = open(path, "rb").read()
    h = struct.unpack("<I", raw[12:16])[0]
    header = json.loads(raw[16:16 + h])
    base = (16 + h + 63) // 64 * 64
    return {t["name"]: np.frombuffer(raw, np.float32, t["nbytes"] // 4, base + t["offset"])
            for t in header["tensors"] if t["dtype"] == 1}
def mb(kib):
    return f"{int(kib) / 1024:.0f}"
for job in jobs:
    a = json.load(open(f"{out}/{job}-1.json"))
    wa, rss_a = open(f"{out}/{job}-1.wall").read().split()
    for ranks in rank_counts:
        b = json.load(open(f"{out}/{job}-{ranks}.json"))
        wb = open(f"{out}/{job}-{ranks}.wall").read().strip()
        rss = [open(f"{out}/{job}-{ranks}.rss.{r}").read().strip() for r in range(int(ranks))]
        held = b.get("held_interactions", {})
        line = (f"{job}: fit {a['timings']['train']:.2f}s (1 process) vs "
                f"{b['timings']['train']:.2f}s ({ranks} ranks); wall {wa}s vs {wb}s; recall@20 "
                f"{a['metrics']['recall@20']:.4f} vs {b['metrics']['recall@20']:.4f}; peak RSS "
                f"{mb(rss_a)} MB vs per rank {', '.join(mb(r) for r in rss)} MB; rank 0 held "
                f"{held.get('user_rows')} + {held.get('item_rows')} of {held.get('of')} entries")
        if job == "ials":
            ta, tb = tensors(a["artifact"]), tensors(b["artifact"])
            d = max(float(np.abs(ta[k] - tb[k]).max()) for k in ("item_factors", "user_factors"))
            line += f"; max |factor difference| {d:.3g}"
        print(line)
PY
