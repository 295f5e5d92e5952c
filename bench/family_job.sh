#!/usr/bin/env bash
# Prints the train config of the families benchmark: FAMILY on DATAFILE under strong
# generalization (ratings > 3.5 are positives, USERS held-out users, 80% fold-in, split SEED),
# trained on the split's training users only, four metrics. Used by families.sh and
# train_before_after.sh.
#   bench/family_job.sh DATAFILE USERS SEED FAMILY > job.toml
set -euo pipefail
cat <<TOML
[data]
train = "$1"
positive_threshold = 3.5
[split]
protocol = "strong-generalization"
test_users = $2
fold_in = 0.8
seed = $3
refit = false
[model]
family = "$4"
[eval]
metrics = ["recall@20", "recall@50", "ndcg@100", "coverage@20"]
TOML
