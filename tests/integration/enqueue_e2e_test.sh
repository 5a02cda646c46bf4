#!/usr/bin/env bash
# `tunectl enqueue` with the real binaries: a configuration enqueued before any worker runs
# (and before a server restart) is the study's first trial, and it completes with those params.
# usage: enqueue_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
start_server "$SERVER_BIN"

cat > "$WORK/spec.yaml" <<'YAML'
name: e2e-enqueue
algorithm: {kind: random, max_trials: 4}
seed: 5
search_space:
  units: {type: choice, values: [128, 256, 512]}
  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}
  optimizer: {type: choice, values: [adam, rmsprop]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 2, sleep_seconds: 0.02}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"

# A value the space does not allow is refused with the param named, and nothing is created.
if "$TUNECTL" enqueue "$STUDY" --param units=300 --param dropout=0.3 --param optimizer=adam \
    --param learning_rate=0.001 2> "$WORK/bad.err"; then
  fail "units=300 was accepted"
fi
grep -q "params.units: must be one of 128, 256, 512" "$WORK/bad.err" \
  || fail "bad enqueue error does not name params.units: $(cat "$WORK/bad.err")"

"$TUNECTL" enqueue e2e-enqueue --param units=512 --param dropout=0.4 --param optimizer=rmsprop \
  --param learning_rate=0.002 --json > "$WORK/enqueued.json"

# Durable: the enqueued trial is a PENDING trial row, so it survives a restart.
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 1
wait_study "$TUNECTL" "$STUDY" 120

"$TUNECTL" trials "$STUDY" --json > "$WORK/trials.json"
"$TUNECTL" trials "$STUDY"  # the table, for the log
python3 - "$WORK/enqueued.json" "$WORK/trials.json" <<'PY'
import json, sys
enqueued = json.load(open(sys.argv[1]))
trials = json.load(open(sys.argv[2]))["trials"]
assert enqueued["number"] == 0 and enqueued["state"] == "PENDING", enqueued
want = {"units": 512, "dropout": 0.4, "optimizer": "rmsprop", "learning_rate": 0.002}
assert enqueued["params"] == want, enqueued["params"]
assert len(trials) == 4, len(trials)  # the enqueued trial counts toward max_trials
first = trials[0]
assert first["trial_id"] == enqueued["trial_id"], (first, enqueued)
assert first["params"] == want and first["state"] == "COMPLETED", first
assert all(t["state"] == "COMPLETED" for t in trials), [t["state"] for t in trials]
print(f"enqueue e2e: trial {first['trial_id']} ran the enqueued params, value {first['value']:.4f}")
PY
echo "enqueue e2e: ok"
