#!/usr/bin/env bash
# Failures a user can see (issue 17): a study whose every trial fails reads FAILED in
# `studies` and `status`, ends `watch` with exit 1 and the reason, and `trials --state failed`
# shows each trial's REASON and the worker (by name) it failed on. Also `tunectl workers` and
# `trials --format csv` and `tunectl delete` (with its checkpoint files, also after a restart)
# on the real server.
# usage: failures_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 1

cat > "$WORK/broken.yaml" <<'YAML'
name: broken
algorithm: {kind: random, max_trials: 3}
max_attempts: 1
search_space:
  units: {type: choice, values: [128, 256]}
trainer: {kind: synthetic, epochs: 2, fail_probability: 1.0}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/broken.yaml")"
set +e
"$TUNECTL" watch "$STUDY" > "$WORK/watch.out" 2> "$WORK/watch.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "watch of an all-failed study exited $rc: $(cat "$WORK/watch.err")"
grep -q "ended with every trial failed (3 of 3); trial [0-9]* (number [0-9]) on w1: synthetic failure" \
  "$WORK/watch.err" || fail "watch's error: $(cat "$WORK/watch.err")"
"$TUNECTL" studies | grep -E "^ *$STUDY +broken +FAILED " > /dev/null \
  || fail "studies: $("$TUNECTL" studies)"
"$TUNECTL" status "$STUDY" | grep -q "failed    every trial failed (3 of 3)" \
  || fail "status: $("$TUNECTL" status "$STUDY")"
"$TUNECTL" trials "$STUDY" --state failed > "$WORK/failed.txt"
cat "$WORK/failed.txt"
head -1 "$WORK/failed.txt" | grep -q "WORKER.*REASON$" || fail "no REASON column"
[ "$(grep -c "FAILED .* w1 .*synthetic failure at epoch" "$WORK/failed.txt")" -eq 3 ] \
  || fail "each failed trial shows w1 and its reason"

"$TUNECTL" workers > "$WORK/workers.txt"
cat "$WORK/workers.txt"
grep -qE "^ *1  w1 " "$WORK/workers.txt" || fail "workers does not list w1"

cat > "$WORK/ok.yaml" <<'YAML'
name: fine
algorithm: {kind: random, max_trials: 4}
keep_checkpoints: true
search_space:
  units: {type: choice, values: [128, 256]}
  dropout: {type: float, min: 0.1, max: 0.5}
trainer: {kind: synthetic, epochs: 2}
YAML
OK_STUDY="$("$TUNECTL" start-study "$WORK/ok.yaml")"
wait_study "$TUNECTL" "$OK_STUDY" 60
"$TUNECTL" trials "$OK_STUDY" --format csv > "$WORK/trials.csv"
"$TUNECTL" trials "$OK_STUDY" --json > "$WORK/trials.json"
python3 - "$WORK/trials.csv" "$WORK/trials.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
trials = json.load(open(sys.argv[2]))["trials"]
assert len(rows) == len(trials) == 4, (len(rows), len(trials))
for row, trial in zip(rows, trials):
    assert int(row["number"]) == trial["number"]
    assert row["state"] == "COMPLETED"
    assert float(row["value"]) == trial["value"], (row["value"], trial["value"])  # full precision
    assert float(row["params_dropout"]) == trial["params"]["dropout"]
    assert int(row["params_units"]) == trial["params"]["units"]
print(f"csv: {len(rows)} rows equal to trials --json")
PY

# delete: the ended study goes with its 4 checkpoint files (a running study is refused:
# OutputTest and Lifecycle tests).
ls "$WORK/tuner.db.checkpoints" | wc -l | grep -qx 4 || fail "expected 4 checkpoint files"
"$TUNECTL" delete "$OK_STUDY" | tee "$WORK/delete.out"
grep -qx "deleted study $OK_STUDY \"fine\" with 4 trials, 4 checkpoints and 0 ensembles" \
  "$WORK/delete.out" || fail "delete printed $(cat "$WORK/delete.out")"
[ -z "$(ls -A "$WORK/tuner.db.checkpoints")" ] || fail "checkpoint files left behind"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_server "$SERVER_BIN"
"$TUNECTL" studies > "$WORK/studies.txt"
grep -q " fine " "$WORK/studies.txt" && fail "the deleted study came back after a restart"
grep -qE "^ *$STUDY +broken " "$WORK/studies.txt" || fail "another study was lost"
if "$TUNECTL" delete "$OK_STUDY" 2> "$WORK/again.err"; then fail "deleted twice"; fi
grep -q "study $OK_STUDY not found" "$WORK/again.err" || fail "$(cat "$WORK/again.err")"
echo "failures_e2e: ok"
