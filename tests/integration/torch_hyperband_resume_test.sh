#!/usr/bin/env bash
# Hyperband with the torch trainer end to end: a real tuner-server, two trial-workers built
# with torch, a tiny CIFAR-10 made here, R = 3 and eta = 3 (bracket 0: 3 lenet5 trials of 1
# epoch, the best promoted to 3 epochs; bracket 1: 2 trials of 3 epochs). A promoted trial must
# resume from its rung's checkpoint: its second lease trains epochs 2..3 from the checkpoint,
# and its epoch 1 stays the one reported before the promotion (no restart from 0).
# usage: torch_hyperband_resume_test.sh TUNER_SERVER_BIN TRIAL_WORKER_BIN TUNECTL_BIN
source "$(dirname "$0")/lib.sh"
SERVER_BIN="$1" WORKER_BIN="$2" TUNECTL="$3"

make_tiny_cifar10 "$WORK/cifar"
start_server "$SERVER_BIN"
start_workers "$WORKER_BIN" 2 --device cpu --threads 1

cat > "$WORK/spec.yaml" <<YAML
name: e2e-torch-hyperband
algorithm: {kind: hyperband, max_epochs: 3, eta: 3}
seed: 4
search_space:
  learning_rate: {type: float, min: 1.0e-3, max: 1.0e-2, log: true}
trainer:
  kind: torch
  dataset: {name: cifar10, path: $WORK/cifar, val_fraction: 0.2}
  backbone: {name: lenet5}
  batch_size: 32
  units: 32
YAML
STUDY="$("$TUNECTL" start-study "$WORK/spec.yaml")"
[[ "$STUDY" =~ ^[0-9]+$ ]] || fail "start-study printed '$STUDY', not a study id"
wait_study "$TUNECTL" "$STUDY" 240
"$TUNECTL" trials "$STUDY"

# The promoted trials: leased again from epoch 2 with a checkpoint (the workers' log line).
cat "$WORK"/worker-*.log | grep -E "study $STUDY trial [0-9]+: leased \(attempt [0-9]+, epochs 2\.\.3, 1 execution\(s\), resuming from a checkpoint\)" \
  > "$WORK/resumed.log" || fail "no trial was resumed from a checkpoint at epoch 2"
cat "$WORK/resumed.log"
python3 - "$WORK/tuner.db" "$WORK/resumed.log" <<'PY'
import datetime, re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for line in open(sys.argv[2]):
    stamp = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]", line).group(1)
    leased_at = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    trial = int(re.search(r"trial (\d+): leased", line).group(1))
    rows = db.execute("SELECT epoch, reported_at FROM intermediate_values WHERE trial_id = ? "
                      "AND execution = 0 ORDER BY epoch", (trial,)).fetchall()
    epochs = [e for e, _ in rows]
    assert epochs == [1, 2, 3], (trial, epochs)
    at = dict(rows)
    # Epoch 1 was reported before the promotion's lease and never again; 2 and 3 after it.
    assert at[1] < leased_at, (trial, at, leased_at)
    assert leased_at - 1.0 < at[2] < at[3], (trial, at, leased_at)
    state, epochs_done = db.execute("SELECT state, epochs_done FROM trials WHERE id = ?",
                                    (trial,)).fetchone()
    assert state == "COMPLETED" and epochs_done == 3, (trial, state, epochs_done)
    print(f"trial {trial}: epoch 1 reported {leased_at - at[1]:.2f} s before the promotion's "
          f"lease; epochs 2 and 3 after it, from the checkpoint")
PY
echo "torch hyperband resume e2e: ok"
