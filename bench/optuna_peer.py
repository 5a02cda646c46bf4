"""Control-plane table, peer side: Optuna with SQLite RDB storage (durable, a file in a temp
folder), RandomSampler, the bench's 4-param space, ask / report per epoch / tell, run by P
processes sharing one study. Prints one JSON object.

  /usr/bin/python3 bench/optuna_peer.py PROCESSES TRIALS EPOCHS
"""
import json
import logging
import multiprocessing as mp
import shutil
import sys
import tempfile
import time

import optuna

optuna.logging.set_verbosity(logging.WARNING)


def run_trials(url, count, epochs, seed):
    study = optuna.load_study(study_name="bench", storage=url,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(count):
        trial = study.ask()
        units = trial.suggest_categorical("units", [128, 256, 512])
        dropout = trial.suggest_float("dropout", 0.2, 0.5, step=0.1)
        trial.suggest_categorical("optimizer", ["adam", "rmsprop"])
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        value = 0.0
        for epoch in range(1, epochs + 1):
            value = 0.5 + 0.001 * epoch + units * 1e-6 - dropout * 1e-3 + lr
            trial.report(value, epoch)
        study.tell(trial, value)


def main():
    procs, trials, epochs = (int(v) for v in sys.argv[1:4])
    folder = tempfile.mkdtemp(prefix="bench-optuna-")
    url = f"sqlite:///{folder}/optuna.db"
    try:
        optuna.create_study(study_name="bench", storage=url, direction="maximize")
        start = time.perf_counter()
        workers = [mp.Process(target=run_trials, args=(url, trials // procs, epochs, i))
                   for i in range(procs)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - start
        failed = sum(1 for w in workers if w.exitcode)
        done = len(optuna.load_study(study_name="bench", storage=url).get_trials(deepcopy=False))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"processes": procs, "trials": done, "epochs": epochs,
                      "trials_per_s": done / seconds, "seconds": seconds,
                      "failed_processes": failed}))


if __name__ == "__main__":
    main()
