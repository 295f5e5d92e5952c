#!/usr/bin/env bash
# Before/after of `marquee train` for two builds: every recommender family on ML-100K and
# ml-latest-small (strong generalization, seeds 98765 and 1, refit = false), two alternating
# rounds per build. Prints whether the metrics are identical and the train-stage seconds.
#   bench/train_before_after.sh OLD_MARQUEE NEW_MARQUEE
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
OLD=${1:?usage: bench/train_before_after.sh OLD_MARQUEE NEW_MARQUEE}
NEW=${2:?usage: bench/train_before_after.sh OLD_MARQUEE NEW_MARQUEE}
DATA=${MARQUEE_SHARED_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
OUT=$(mktemp -d)
cd "$OUT"
for ds in "movielens-100k/u.data:150" "movielens-latest-small/ratings.csv:100"; do
  file=${ds%%:*}; users=${ds##*:}; name=$(dirname "$file")
  for family in popularity itemknn ease ials bpr rp3beta; do
    for seed in 98765 1; do
      "$BENCH"/family_job.sh "$DATA/$file" "$users" "$seed" "$family" >job.toml
      for round in 1 2; do
        for which in old new; do
          bin=$OLD; [ $which = new ] && bin=$NEW
          rm -rf home-$which
          $bin --home home-$which -q train job.toml --json > "$name-$family-$seed-$which-$round.json"
        done
      done
    done
  done
done
python3 - <<'PY'
import json,glob,statistics
rows={}
for f in glob.glob("*-old-1.json"):
    key=f[:-len("-old-1.json")]
    o=[json.load(open(f"{key}-old-{r}.json")) for r in (1,2)]
    n=[json.load(open(f"{key}-new-{r}.json")) for r in (1,2)]
    same = o[0]["metrics"]==n[0]["metrics"]
    to=[x["timings"]["train"] for x in o]; tn=[x["timings"]["train"] for x in n]
    rows[key]=(same, statistics.median(to), statistics.median(tn))
bad=[k for k,v in rows.items() if not v[0]]
print("metrics identical:", len(rows)-len(bad), "of", len(rows), "bad:", bad)
for k,(s,a,b) in sorted(rows.items()):
    print(f"{k:45s} old {a:7.3f}s new {b:7.3f}s ratio {b/a if a>0 else 0:5.2f}")
PY
