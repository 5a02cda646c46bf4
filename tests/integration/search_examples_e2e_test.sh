#!/usr/bin/env bash
# examples/synthetic-asha.yaml, -tpe-median, -conditional, -bohb and -gp run to completion on a
# real server with 3 trial-workers, started and followed with tunectl as a user would.
# usage: search_examples_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
EXAMPLES="$(cd "$(dirname "$0")/../../examples" && pwd)"
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 3

ASHA="$("$TUNECTL" start-study "$EXAMPLES/synthetic-asha.yaml")"
[[ "$ASHA" =~ ^[0-9]+$ ]] || fail "start-study printed '$ASHA', not a study id"
TPE="$("$TUNECTL" start-study "$EXAMPLES/synthetic-tpe-median.yaml")"
[[ "$TPE" =~ ^[0-9]+$ ]] || fail "start-study printed '$TPE', not a study id"
wait_study "$TUNECTL" "$ASHA" 240
wait_study "$TUNECTL" "$TPE" 240

"$TUNECTL" status "$ASHA"              # for the log
"$TUNECTL" status "$TPE"
for study in "$ASHA" "$TPE"; do
  "$TUNECTL" status "$study" --json > "$WORK/status-$study.json"
  "$TUNECTL" trials "$study" --json > "$WORK/trials-$study.json"
done
python3 - "$WORK" "$ASHA" "$TPE" <<'PY'
import json, sys
work, asha, tpe = sys.argv[1:]
def load(kind, study):
    return json.load(open(f"{work}/{kind}-{study}.json"))

status = load("status", asha)
trials = load("trials", asha)["trials"]
assert status["state"] == "STUDY_COMPLETED", status["state"]
assert len(trials) == 40, len(trials)
for t in trials:
    want = "COMPLETED" if t["budget_epochs"] == 27 else "PRUNED"
    assert t["state"] == want, (t["number"], t["state"], t["budget_epochs"])
    assert t["value"] is not None, t
rungs = {}
for t in trials:
    for k in range(t["rung"] + 1):
        rungs[k] = rungs.get(k, 0) + 1
assert rungs[0] == 40 and rungs.get(1, 0) >= 1 and rungs.get(3, 0) >= 1, rungs
print(f"e2e asha: 40 trials, trials per rung {rungs}")

status = load("status", tpe)
trials = load("trials", tpe)["trials"]
assert status["state"] == "STUDY_COMPLETED", status["state"]
assert len(trials) == 30, len(trials)
states = [t["state"] for t in trials]
assert set(states) <= {"COMPLETED", "PRUNED"}, states
pruned = [t for t in trials if t["state"] == "PRUNED"]
assert pruned, "the median pruner stopped nothing"
for t in pruned:
    assert t["value"] is not None and 3 <= t["epochs_done"] <= 8, t  # the last epoch too, as Optuna
print(f"e2e tpe+median: 30 trials, {len(pruned)} pruned at epochs "
      f"{sorted(t['epochs_done'] for t in pruned)}")
PY
echo "e2e search examples: ok"

# examples/synthetic-conditional.yaml: momentum only for sgd, beta1 only for adam.
COND="$("$TUNECTL" start-study "$EXAMPLES/synthetic-conditional.yaml")"
wait_study "$TUNECTL" "$COND" 240
"$TUNECTL" trials "$COND"              # the table prints '-' for an absent param
"$TUNECTL" trials "$COND" --json > "$WORK/trials-$COND.json"
python3 - "$WORK/trials-$COND.json" <<'PY'
import json, sys
trials = json.load(open(sys.argv[1]))["trials"]
assert len(trials) == 30, len(trials)
assert all(t["state"] == "COMPLETED" for t in trials), [t["state"] for t in trials]
for t in trials:
    p = t["params"]
    sgd = p["optimizer"] == "sgd"
    assert ("momentum" in p) == sgd and ("beta1" in p) == (not sgd), p
    if sgd:
        assert 0.5 <= p["momentum"] <= 0.99, p
kinds = {t["params"]["optimizer"] for t in trials}
assert kinds == {"adam", "sgd"}, kinds
print(f"conditional: 30 trials, {sum(t['params']['optimizer'] == 'sgd' for t in trials)} with sgd + momentum")
PY
echo "conditional example: ok"

# examples/synthetic-bohb.yaml (Hyperband + TPE) and examples/synthetic-gp.yaml (GP, 4 in
# parallel) run to completion with the same workers.
BOHB="$("$TUNECTL" start-study "$EXAMPLES/synthetic-bohb.yaml")"
GP="$("$TUNECTL" start-study "$EXAMPLES/synthetic-gp.yaml")"
wait_study "$TUNECTL" "$BOHB" 240
wait_study "$TUNECTL" "$GP" 240
"$TUNECTL" status "$BOHB"
"$TUNECTL" status "$GP"
"$TUNECTL" trials "$BOHB" --json > "$WORK/trials-$BOHB.json"
"$TUNECTL" trials "$GP" --json > "$WORK/trials-$GP.json"
python3 - "$WORK/trials-$BOHB.json" "$WORK/trials-$GP.json" <<'PY'
import json, sys
bohb = json.load(open(sys.argv[1]))["trials"]
gp = json.load(open(sys.argv[2]))["trials"]
assert len(bohb) == 98, len(bohb)
assert {t["state"] for t in bohb} <= {"COMPLETED", "PRUNED"}, {t["state"] for t in bohb}
assert sum(t["budget_epochs"] == 27 for t in bohb) >= 8, "each bracket's best reaches 27 epochs"
assert len(gp) == 30 and all(t["state"] == "COMPLETED" for t in gp), [t["state"] for t in gp]
print(f"bohb: 98 trials, best {max(t['value'] for t in bohb if t['budget_epochs'] == 27):.4f}; "
      f"gp: 30 trials, best {max(t['value'] for t in gp):.4f}")
PY
echo "bohb and gp examples: ok"
