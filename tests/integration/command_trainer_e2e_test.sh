#!/usr/bin/env bash
# trainer.kind command end to end (issue 16): a real tuner-server and two trial-workers run
# three studies over small Python programs at once.
#  A. Hyperband (max_epochs 3, eta 3) over a script that keeps its state in
#     TUNER_CHECKPOINT_DIR: a promoted trial resumes from TUNER_RESUME_DIR (TUNER_START_EPOCH 1),
#     so no epoch of any trial is trained or reported twice.
#  B. Random search with the median pruner over a script that ignores SIGTERM and starts a child
#     process: a pruned trial's processes are gone within grace_seconds of the stop.
#  C. Grid over bad programs (crash, usage error, garbage, missing, hang past timeout_seconds)
#     and one good one: each bad one fails with its reason (exit status and stderr tail) and the
#     workers go on.
# usage: command_trainer_e2e_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"
PY=/usr/bin/python3
[ -x "$PY" ] || fail "needs /usr/bin/python3"

cat > "$WORK/resumable.py" <<'PY'
import json, os, sys, time
trial, start = os.environ["TUNER_TRIAL_ID"], int(os.environ["TUNER_START_EPOCH"])
budget, lr = int(os.environ["TUNER_BUDGET_EPOCHS"]), json.load(open(os.environ["TUNER_PARAMS_FILE"]))["lr"]
state = {"epoch": 0, "weights": 0.0}
if start > 0:
    state = json.load(open(os.path.join(os.environ["TUNER_RESUME_DIR"], "state.json")))
    if state["epoch"] != start:
        sys.exit("resume dir is at epoch %d, TUNER_START_EPOCH is %d" % (state["epoch"], start))
for epoch in range(start + 1, budget + 1):
    time.sleep(0.05)
    state = {"epoch": epoch, "weights": state["weights"] + lr}
    tmp = os.path.join(os.environ["TUNER_CHECKPOINT_DIR"], "state.json.tmp")
    json.dump(state, open(tmp, "w"))
    os.replace(tmp, os.path.join(os.environ["TUNER_CHECKPOINT_DIR"], "state.json"))
    with open(sys.argv[1], "a") as log:
        log.write("%s %d\n" % (trial, epoch))
    print(json.dumps({"epoch": epoch, "val_accuracy": 1 - abs(lr - 0.05) + 0.01 * epoch}))
PY
cat > "$WORK/stubborn.py" <<'PY'
import json, os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "120"])
trial = int(os.environ["TUNER_TRIAL_ID"])
open(os.path.join(sys.argv[1], "pids-%d" % trial), "w").write("%d %d" % (os.getpid(), child.pid))
for epoch in range(1, 1000):  # on and on, past its budget: only SIGKILL ends it
    print(json.dumps({"epoch": epoch, "val_accuracy": 1.0 / trial}))
    time.sleep(0.1)
PY
mkdir -p "$WORK/bin" "$WORK/pids"
printf '#!/usr/bin/python3\nimport sys\nprint("loading data")\nraise RuntimeError("out of cheese at step 7")\n' > "$WORK/bin/crash"
printf '#!/usr/bin/python3\nimport argparse\nargparse.ArgumentParser().parse_args(["--epochs=3"])\n' > "$WORK/bin/usage"
printf '#!/bin/sh\necho "%%%% no metrics here {{{"\n' > "$WORK/bin/garbage"
printf '#!/bin/sh\ntrap "" TERM\necho "{\\"epoch\\": 1, \\"val_accuracy\\": 0.5}"\nsleep 60\n' > "$WORK/bin/hang"
printf '#!/bin/sh\necho "{\\"epoch\\": 1, \\"val_accuracy\\": 0.6}"\necho "{\\"epoch\\": 2, \\"val_accuracy\\": 0.7}"\n' > "$WORK/bin/good"
chmod +x "$WORK"/bin/*

start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 2 --trial-log-dir "$WORK/trial-logs"

cat > "$WORK/a.yaml" <<YAML
name: command-hyperband
algorithm: {kind: hyperband, max_epochs: 3, eta: 3}
seed: 5
search_space:
  lr: {type: float, min: 0.001, max: 0.1, log: true}
trainer: {kind: command, argv: [$PY, $WORK/resumable.py, $WORK/epochs.log], grace_seconds: 2}
YAML
cat > "$WORK/b.yaml" <<YAML
name: command-pruned
algorithm: {kind: random, max_trials: 4}
pruner: {kind: median, n_startup_trials: 1}
search_space:
  x: {type: int, min: 1, max: 100}
trainer: {kind: command, epochs: 8, argv: [$PY, $WORK/stubborn.py, $WORK/pids], grace_seconds: 1}
YAML
cat > "$WORK/c.yaml" <<YAML
name: command-bad-programs
algorithm: {kind: grid}
max_attempts: 1
search_space:
  mode: {type: choice, values: [crash, usage, garbage, missing, hang, good]}
trainer: {kind: command, epochs: 2, argv: ["$WORK/bin/{mode}"], timeout_seconds: 4, grace_seconds: 0.5}
YAML
A="$("$TUNECTL" start-study "$WORK/a.yaml")"
B="$("$TUNECTL" start-study "$WORK/b.yaml")"
C="$("$TUNECTL" start-study "$WORK/c.yaml")"
for s in "$A" "$B" "$C"; do [[ "$s" =~ ^[0-9]+$ ]] || fail "start-study printed '$s'"; done
for s in "$A" "$B" "$C"; do wait_study "$TUNECTL" "$s" 60; done
"$TUNECTL" trials "$A"; "$TUNECTL" trials "$B"; "$TUNECTL" trials "$C"

grep -hE "study $A trial [0-9]+: leased \(attempt [0-9]+, epochs 2\.\.3, 1 execution\(s\), resuming from a checkpoint\)" \
  "$WORK"/worker-*.log > "$WORK/resumed.log" || fail "no Hyperband trial was resumed from its checkpoint"
cat "$WORK/resumed.log"
cat "$WORK"/worker-*.log > "$WORK/workers.log"
$PY - "$WORK" "$A" "$B" "$C" <<'PY'
import datetime, os, re, sqlite3, sys
work, A, B, C = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect(os.path.join(work, "tuner.db"))

# A: every trial trained each epoch exactly once; promoted ones have epochs 1..3 in the db.
trained = {}
for line in open(os.path.join(work, "epochs.log")):
    trial, epoch = map(int, line.split())
    trained.setdefault(trial, []).append(epoch)
resumed = [int(re.search(r"trial (\d+): leased", l).group(1)) for l in open(os.path.join(work, "resumed.log"))]
for trial, epochs in trained.items():
    assert epochs == list(range(1, len(epochs) + 1)), ("an epoch trained twice", trial, epochs)
for trial in resumed:
    assert trained[trial] == [1, 2, 3], (trial, trained[trial])
    rows = db.execute("SELECT epoch FROM intermediate_values WHERE trial_id = ? ORDER BY epoch",
                      (trial,)).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3], (trial, rows)
    state, done = db.execute("SELECT state, epochs_done FROM trials WHERE id = ?", (trial,)).fetchone()
    assert (state, done) == ("COMPLETED", 3), (trial, state, done)
print("A: %d promoted trial(s) resumed at epoch 2; no epoch trained twice in %d trials"
      % (len(resumed), len(trained)))

# B: pruned trials' processes (the script and its child) are gone; the stop took <= grace + slack.
def stamp(line):
    return datetime.datetime.strptime(re.match(r"\[([^\]]+)\]", line).group(1), "%Y-%m-%d %H:%M:%S.%f")
log = open(os.path.join(work, "workers.log")).read().splitlines()
pruned = [r[0] for r in db.execute("SELECT id FROM trials WHERE study_id = ? AND state = 'PRUNED'", (B,))]
assert pruned, "no trial of study B was pruned"
for trial in pruned:
    for pid in map(int, open(os.path.join(work, "pids", "pids-%d" % trial)).read().split()):
        try:
            state = open("/proc/%d/stat" % pid).read().split()[2]
        except FileNotFoundError:
            state = "gone"
        assert state in ("gone", "Z", "X"), ("pruned trial's process still running", trial, pid, state)
    stop = [stamp(l) for l in log if re.search(r"study %d trial %d execution 0: stopping the program" % (B, trial), l)]
    done = [stamp(l) for l in log if re.search(r"study %d trial %d: PRUNED at epoch" % (B, trial), l)]
    assert stop and done, (trial, stop, done)
    took = (done[0] - stop[0]).total_seconds()
    # It ignores SIGTERM, so only the SIGKILL at grace_seconds ends it: 1 s, plus slack for a
    # loaded machine (the completion RPC comes after it).
    assert 0.9 <= took <= 1.0 + 3.0, ("grace_seconds is 1 but the stop took %.2f s" % took, trial)
    print("B: trial %d pruned; its program (which ignores SIGTERM) and its child were gone %.2f s "
          "after the stop (grace_seconds 1)" % (trial, took))

# C: each bad program failed with its reason; the good one completed.
want = {
    "crash": ["exited with status 1", "RuntimeError: out of cheese at step 7"],
    "usage": ["exited with status 2, a usage error", "unrecognized arguments"],
    "garbage": ["exited with status 0 without reporting val_accuracy", "no metrics here {{{"],
    "missing": ["bin/missing does not exist"],
    "hang": ["still running after trainer.timeout_seconds (4 s)", "SIGKILL"],
}
for params, state, reason in db.execute("SELECT params_json, state, fail_reason FROM trials WHERE study_id = ?", (C,)):
    mode = re.search(r'"mode":\s*"(\w+)"', params).group(1)
    if mode == "good":
        assert state == "COMPLETED", (mode, state, reason)
        continue
    assert state == "FAILED", (mode, state, reason)
    for text in want[mode]:
        assert text in reason, (mode, text, reason)
    print("C: %-7s FAILED: %s" % (mode, reason.splitlines()[0][:110]))
PY
ls "$WORK/trial-logs" | grep -q "study-$C-trial-.*\.stderr\.log" || fail "no per-trial stderr logs"
echo "command trainer e2e: ok"
