#!/usr/bin/env bash
# Server on a temp db + 4 trial-workers + a synthetic study, driven by tunectl as a user would:
# `tunectl best STUDY --json` must give the best trial of `tunectl trials STUDY --json`.
# usage: study_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 4

cat > "$WORK/spec.yaml" <<'YAML'
name: e2e-random
algorithm: {kind: random, max_trials: 20}
executions_per_trial: 2
seed: 5
search_space:
  units: {type: choice, values: [128, 256, 512]}
  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}
  optimizer: {type: choice, values: [adam, rmsprop]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 4, sleep_seconds: 0.02}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY', not a study id"
wait_study "$TUNECTL" "$STUDY" 120

"$TUNECTL" trials "$STUDY" --json > "$WORK/trials.json"
"$TUNECTL" best "$STUDY" --json > "$WORK/best.json"
"$TUNECTL" trials "$STUDY"            # the table, for the log
"$TUNECTL" best "$STUDY"
python3 - "$WORK/trials.json" "$WORK/best.json" <<'PY'
import json, sys
trials = json.load(open(sys.argv[1]))["trials"]
best = json.load(open(sys.argv[2]))["trials"][0]
assert len(trials) == 20, len(trials)
assert all(t["state"] == "COMPLETED" for t in trials), [t["state"] for t in trials]
top = max(trials, key=lambda t: t["value"])
assert best["trial_id"] == top["trial_id"], (best, top)
assert best["params"] == top["params"] and best["value"] == top["value"]
assert isinstance(best["params"]["units"], int) and isinstance(best["params"]["optimizer"], str)
print(f"e2e: 20 trials completed; best trial {best['trial_id']} value {best['value']:.4f} {best['params']}")
PY

# A bad spec is refused with the field named, and the server keeps its studies.
printf 'name: bad\nalgorithm: {kind: bayes}\nsearch_space: {x: {type: choice, values: [1]}}\ntrainer: {kind: synthetic}\n' > "$WORK/bad.yaml"
if "$TUNECTL" start-study "$WORK/bad.yaml" 2> "$WORK/bad.err"; then fail "bad spec accepted"; fi
grep -q "algorithm.kind" "$WORK/bad.err" || fail "bad-spec error does not name algorithm.kind: $(cat "$WORK/bad.err")"
"$TUNECTL" studies | grep -q e2e-random || fail "study list lost the study"
echo "e2e: ok"
