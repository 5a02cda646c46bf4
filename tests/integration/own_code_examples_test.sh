#!/usr/bin/env bash
# examples/own-code (issue 16) as its README runs them, from the repository's root: the shell
# one-liner study, then the PyTorch Fashion-MNIST Hyperband study made small (max_epochs 3,
# 600 training images) so that it takes seconds: every trial completes or is left at its rung,
# and a promoted trial resumes from its checkpoint (its stdout log says so and its epoch 1 is
# reported once). The PyTorch part prints "SKIP:" and is left out without python3-torch or the
# dataset.
# usage: own_code_examples_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$(realpath "$1")" WORKER_BIN="$(realpath "$2")" TUNECTL="$(realpath "$3")"
cd "$(dirname "$0")/../.."
export PYTHONDONTWRITEBYTECODE=1
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 2 --trial-log-dir "$WORK/trial-logs"

S="$("$TUNECTL" start-study examples/own-code/one-liner.yaml)"
wait_study "$TUNECTL" "$S" 60
"$TUNECTL" best "$S" --json > "$WORK/best.json"
/usr/bin/python3 - "$WORK/tuner.db" "$S" "$WORK/best.json" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT state, value, params_json FROM trials WHERE study_id = ?", (int(sys.argv[2]),)).fetchall()
assert len(rows) == 12 and all(r[0] == "COMPLETED" for r in rows), rows
for state, value, params in rows:
    x = json.loads(params)["x"]
    assert abs(value - (-(x - 1) ** 2)) < 1e-4, (value, x)  # the one-liner computed it
print("one-liner: 12 trials, each score = -(x - 1)^2; best", open(sys.argv[3]).read()[:200])
PY

if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null \
   || [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: the PyTorch example needs python3-torch and dataset-fashion-mnist"
  echo "own-code examples: one-liner ok"
  exit 0
fi
sed -e 's/max_epochs: 9, eta: 3/max_epochs: 3, eta: 3/' -e 's/TRAIN_IMAGES: 12000/TRAIN_IMAGES: 600/' \
    -e 's/VAL_IMAGES: 2000/VAL_IMAGES: 300/' examples/own-code/fashion-mnist-hyperband.yaml \
    > "$WORK/fmnist.yaml"
grep -q "max_epochs: 3" "$WORK/fmnist.yaml" || fail "the example spec changed: update this test"
F="$("$TUNECTL" start-study "$WORK/fmnist.yaml")"
wait_study "$TUNECTL" "$F" 120
"$TUNECTL" trials "$F"
grep -hE "study $F trial [0-9]+: leased \(attempt [0-9]+, epochs 2\.\.3, 1 execution\(s\), resuming from a checkpoint\)" \
  "$WORK"/worker-*.log > "$WORK/resumed.log" || fail "no trial of the PyTorch example resumed"
/usr/bin/python3 - "$WORK" "$F" <<'PY'
import os, re, sqlite3, sys
work, study = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(os.path.join(work, "tuner.db"))
states = [r[0] for r in db.execute("SELECT state FROM trials WHERE study_id = ?", (study,))]
assert states and all(s in ("COMPLETED", "PRUNED") for s in states), states
for line in open(os.path.join(work, "resumed.log")):
    trial = int(re.search(r"trial (\d+): leased", line).group(1))
    log = open(os.path.join(work, "trial-logs", "study-%d-trial-%d.stdout.log" % (study, trial))).read()
    assert "resumed from the checkpoint of epoch 1" in log, log[-2000:]
    err = open(os.path.join(work, "trial-logs", "study-%d-trial-%d.stderr.log" % (study, trial))).read()
    trained = re.findall(r"^epoch (\d+): train_loss", err, re.M)
    assert trained == ["1", "2", "3"], ("each epoch trained once", trained, err[-2000:])
    epochs = [e for (e,) in db.execute("SELECT epoch FROM intermediate_values WHERE trial_id = ? ORDER BY epoch", (trial,))]
    assert epochs == [1, 2, 3], epochs
    print("fashion-mnist: trial %d resumed from its epoch-1 checkpoint and trained epochs 2..3" % trial)
best = db.execute("SELECT MAX(value) FROM trials WHERE study_id = ? AND state = 'COMPLETED'", (study,)).fetchone()[0]
assert best > 0.5, best  # 10 classes: chance is 0.1
print("fashion-mnist: %d trials, best val_accuracy %.3f" % (len(states), best))
PY
echo "own-code examples: ok"
