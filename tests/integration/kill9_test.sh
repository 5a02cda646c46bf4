#!/usr/bin/env bash
# kill -9 of the server mid-study, then of a worker; restart the server on the same db: the
# study completes, no trial is lost or counted twice, and earlier results are intact.
# usage: kill9_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
start_server "$SERVER_BIN" --lease-seconds 2
start_workers "$WORKER_BIN" 4

cat > "$WORK/spec.yaml" <<'YAML'
name: kill9
algorithm: {kind: random, max_trials: 40}
seed: 9
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 5, sleep_seconds: 0.03}
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"

completed() { "$TUNECTL" trials "$STUDY" --state completed --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["trials"]))' 2>/dev/null || echo 0; }
for _ in $(seq 1 200); do [ "$(completed)" -ge 8 ] && break; sleep 0.1; done
"$TUNECTL" trials "$STUDY" --state completed --json > "$WORK/before.json"
kill -9 "$SERVER_PID"
echo "killed the server (kill -9) with $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["trials"]))' "$WORK/before.json") trials completed"
sleep 1
start_server "$SERVER_BIN" --lease-seconds 2
# Kill a worker mid-trial too: its lease expires and the trial is re-leased.
sleep 1
kill -9 "${PIDS[1]}"
wait_study "$TUNECTL" "$STUDY" 180

"$TUNECTL" trials "$STUDY" --json > "$WORK/after.json"
python3 - "$WORK/before.json" "$WORK/after.json" "$WORK/tuner.db" <<'PY'
import json, sqlite3, sys
before = {t["trial_id"]: t for t in json.load(open(sys.argv[1]))["trials"]}
after = {t["trial_id"]: t for t in json.load(open(sys.argv[2]))["trials"]}
assert len(after) == 40, f"{len(after)} trials, expected 40"
states = [t["state"] for t in after.values()]
assert states.count("COMPLETED") == 40, states
for tid, t in before.items():
    assert after[tid]["value"] == t["value"] and after[tid]["params"] == t["params"], (t, after[tid])
db = sqlite3.connect(sys.argv[3])
rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT number) FROM trials").fetchone()
assert rows == (40, 40), rows
reports = db.execute("SELECT COUNT(*) FROM intermediate_values").fetchone()[0]
assert reports == 40 * 5, f"{reports} intermediate values, expected 200 (one per trial epoch)"
releases = db.execute("SELECT COUNT(*) FROM trials WHERE attempt > 1").fetchone()[0]
print(f"kill9: 40/40 completed, {len(before)} earlier results intact, {releases} re-leased, lost = 0, doubled = 0")
PY
