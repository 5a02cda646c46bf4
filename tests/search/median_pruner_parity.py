"""Writes scenarios of intermediate reports and, for each report, the decision of Optuna's own
MedianPruner (Debian's python3-optuna) to a JSON file; median_pruner_parity_test replays the
same reports through our DecidePrune in the same ctest run and requires the same decisions.

  /usr/bin/python3 tests/search/median_pruner_parity.py OUT.json
"""
import json
import logging
import random
import sys

import optuna
from optuna.trial import TrialState


def scenario(seed):
    rng = random.Random(seed)
    direction = rng.choice(["maximize", "minimize"])
    n_startup = rng.choice([0, 1, 2, 5])
    n_warmup = rng.choice([0, 0, 1, 3])
    interval = rng.choice([1, 1, 2, 3])
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup, n_warmup_steps=n_warmup,
                                         interval_steps=interval)
    study = optuna.create_study(direction=direction, pruner=pruner)
    events = []
    for number in range(rng.randint(4, 14)):
        trial = study.ask()
        quality = rng.random()
        epochs = rng.randint(1, 9)
        outcome = "completed"
        epoch = 0
        while epoch < epochs:
            epoch += rng.choice([1, 1, 1, 2])  # epochs may be skipped
            # Coarse values, so ties with the median happen.
            value = round(quality * 0.8 + 0.02 * epoch + rng.gauss(0, 0.05), 2)
            trial.report(value, epoch)
            prune = bool(trial.should_prune())
            events.append({"trial": number, "epoch": epoch, "value": value, "prune": prune})
            if prune and rng.random() < 0.8:
                outcome = "pruned"
                break
        if outcome == "completed" and rng.random() < 0.1:
            outcome = "failed"
        state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
                 "failed": TrialState.FAIL}[outcome]
        study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        events.append({"trial": number, "finish": outcome})
    return {"seed": seed, "maximize": direction == "maximize", "n_startup_trials": n_startup,
            "n_warmup_epochs": n_warmup, "interval_epochs": interval, "events": events}


def main():
    optuna.logging.set_verbosity(logging.ERROR)
    cases = [scenario(seed) for seed in range(300)]
    reports = sum(1 for c in cases for e in c["events"] if "prune" in e)
    pruned = sum(1 for c in cases for e in c["events"] if e.get("prune"))
    with open(sys.argv[1], "w") as out:
        json.dump({"optuna": optuna.__version__, "cases": cases}, out)
    print(f"median_pruner_parity: {len(cases)} scenarios, {reports} reports, Optuna {optuna.__version__}"
          f" pruned at {pruned}")


if __name__ == "__main__":
    main()
