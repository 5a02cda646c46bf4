#!/usr/bin/env bash
# Top-k ensemble end to end: a real tuner-server, a trial-worker built with torch, a tiny
# CIFAR-10 made here (learnable colour / stripe patterns), 3 lenet5 trials with
# keep_checkpoints, then `tunectl ensemble -k 2` and `tunectl best` / `tunectl report` show
# the ensemble's test accuracy.
# usage: ensemble_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"

make_tiny_cifar10 "$WORK/cifar"

start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 1 --device cpu --threads 2

cat > "$WORK/spec.yaml" <<YAML
name: e2e-ensemble
algorithm: {kind: random, max_trials: 3}
seed: 3
keep_checkpoints: true
search_space:
  learning_rate: {type: float, min: 1.0e-3, max: 1.0e-2, log: true}
trainer:
  kind: torch
  epochs: 2
  dataset: {name: cifar10, path: $WORK/cifar, val_fraction: 0.2}
  backbone: {name: lenet5}
  batch_size: 32
  units: 32
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY', not a study id"
wait_study "$TUNECTL" "$STUDY" 180
"$TUNECTL" trials "$STUDY"

"$TUNECTL" ensemble "$STUDY" -k 2 --wait-timeout 120 | tee "$WORK/ensemble.txt"
grep -q "^ensemble 1 (top 2 trials): test accuracy [0-9.]* on 40 test images" "$WORK/ensemble.txt" \
  || fail "tunectl ensemble did not print the test accuracy"

"$TUNECTL" best "$STUDY" -k 2 | tee "$WORK/best.txt"
grep -q "^ensemble 1 (top 2 trials): test accuracy" "$WORK/best.txt" \
  || fail "tunectl best does not show the ensemble"
"$TUNECTL" best "$STUDY" -k 2 --json > "$WORK/best.json"
python3 - "$WORK/best.json" <<'PY'
import json, sys
best = json.load(open(sys.argv[1]))
e = best["latest_ensemble"]
assert e["state"] == "ENSEMBLE_COMPLETED", e
assert e["test_images"] == 40, e
assert 0 <= e["test_accuracy"] <= 1, e
assert [m["trial_id"] for m in e["members"]] == [t["trial_id"] for t in best["trials"]], e
assert all(m["test_accuracy"] is not None and m["checkpoint_id"] for m in e["members"]), e
print(f"ensemble e2e: test accuracy {e['test_accuracy']:.4f}, members "
      f"{[round(m['test_accuracy'], 4) for m in e['members']]}")
PY

"$TUNECTL" report "$STUDY" --html "$WORK/report.html"
grep -q '<section id="ensemble">' "$WORK/report.html" || fail "the report has no Ensemble section"
echo "ensemble e2e: ok"
