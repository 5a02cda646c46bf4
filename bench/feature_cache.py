"""Feature-cache table: torch-trial (one trial, no server) on a frozen ResNet50 over a
Fashion-MNIST subset, three runs back to back with the same params and seed:
  off   feature_cache: false  (the backbone runs on every batch of every epoch)
  cold  feature_cache: true, empty cache dir (epoch 1 extracts the features)
  warm  feature_cache: true, the cache dir of `cold` (what every later trial of a study sees)
Per-epoch time is the gap between consecutive epoch reports on torch-trial's stdout; epoch 1
of each run also pays for loading the data set and is left out of the per-epoch mean.
Prints one JSON object.

  /usr/bin/python3 bench/feature_cache.py TORCH_TRIAL DATASET TRAIN VAL EPOCHS [WEIGHTS]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PARAMS = {"units": 256, "dropout": 0.3, "optimizer": "adam", "learning_rate": 1e-3}


def run(tool, config_path, epochs, cache_dir):
    cmd = [tool, config_path, "--epochs", str(epochs), "--threads", "2", "--seed", "7",
           "--params", json.dumps(PARAMS)]
    if cache_dir:
        cmd += ["--cache-dir", cache_dir]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stamps, accs = [], []
    for line in proc.stdout:
        now = time.perf_counter()
        if not line.startswith("{"):
            continue  # torch-trial's log lines share stdout
        report = json.loads(line)
        if "epoch" in report:
            stamps.append(now)
            accs.append(report["metrics"]["val_accuracy"])
    if proc.wait() != 0:
        raise SystemExit(f"torch-trial failed: {' '.join(cmd)}")
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"first_epoch_s": stamps[0] - start,
            "epoch_s": sum(gaps) / len(gaps) if gaps else None,
            "total_s": time.perf_counter() - start,
            "val_accuracy": accs[-1], "best_val_accuracy": max(accs)}


def main():
    tool, dataset, train, val, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    weights = sys.argv[6] if len(sys.argv) > 6 else ""
    work = tempfile.mkdtemp(prefix="bench-fcache-")
    try:
        trainer = {"kind": "torch", "batch_size": 64, "eval_batch_size": 256, "input_size": 32,
                   "dataset": {"name": "fashion_mnist", "path": dataset,
                               "limit_train": train, "limit_val": val},
                   "backbone": {"name": "resnet50", "freeze": True}}
        if weights:
            trainer["backbone"]["weights"] = weights
        out = {"train_images": train, "val_images": val, "epochs": epochs,
               "weights": weights or "random init"}
        for name, cache, cache_dir in (("off", False, ""), ("cold", True, work + "/cache"),
                                       ("warm", True, work + "/cache")):
            trainer["feature_cache"] = cache
            path = os.path.join(work, f"{name}.json")
            with open(path, "w") as f:
                json.dump(trainer, f)
            out[name] = run(tool, path, epochs, cache_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
