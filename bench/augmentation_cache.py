"""Augmentation through the feature cache against the uncached path: torch-trial (one trial,
no server) on a frozen backbone over a Fashion-MNIST subset at 32 px with rotation / shift /
flip, the same params, for several seeds (trial seeds, as the trials of a study have):
  uncached  feature_cache: false (the backbone runs on freshly augmented batches every epoch)
  cached    feature_cache: true, one cache dir shared by all seeds (as a study's trials share
            the node's cache): each (execution, epoch) trains on its own augmented view
The two modes alternate (uncached first for odd seeds, cached first for even ones). Reports
each run's best val_accuracy and wall time, the means with their standard errors, whether
the difference is within 2 standard errors, and the wall-time ratio of the whole set (the
first cached run extracts the views, the others read them). Prints one JSON object.

  /usr/bin/python3 bench/augmentation_cache.py TORCH_TRIAL DATASET TRAIN VAL EPOCHS SEEDS \
      [BACKBONE] [THREADS]
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

PARAMS = {"units": 256, "dropout": 0.3, "optimizer": "adam", "learning_rate": 1e-3}


def run(tool, config_path, epochs, seed, threads, cache_dir):
    cmd = [tool, config_path, "--epochs", str(epochs), "--threads", str(threads),
           "--seed", str(seed), "--params", json.dumps(PARAMS)]
    if cache_dir:
        cmd += ["--cache-dir", cache_dir]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    accs = []
    for line in proc.stdout:
        if line.startswith("{") and '"epoch"' in line:
            accs.append(json.loads(line)["metrics"]["val_accuracy"])
    if proc.wait() != 0 or not accs:
        raise SystemExit(f"torch-trial failed: {' '.join(cmd)}")
    return {"seed": seed, "best_val_accuracy": max(accs), "last_val_accuracy": accs[-1],
            "seconds": time.perf_counter() - start}


def mean_se(values):
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1)
    return m, math.sqrt(var / len(values))


def main():
    tool, dataset = sys.argv[1], sys.argv[2]
    train, val, epochs, seeds = (int(x) for x in sys.argv[3:7])
    backbone = sys.argv[7] if len(sys.argv) > 7 else "resnet50"
    threads = int(sys.argv[8]) if len(sys.argv) > 8 else 2
    work = tempfile.mkdtemp(prefix="bench-augcache-")
    try:
        configs = {}
        for mode in ("uncached", "cached"):
            trainer = {"kind": "torch", "batch_size": 64, "eval_batch_size": 256,
                       "input_size": 32,
                       "dataset": {"name": "fashion_mnist", "path": dataset,
                                   "limit_train": train, "limit_val": val},
                       "backbone": {"name": backbone, "freeze": True},
                       "augmentation": {"rotation": 15, "shift": 0.1, "hflip": True},
                       "feature_cache": mode == "cached"}
            configs[mode] = os.path.join(work, mode + ".json")
            with open(configs[mode], "w") as f:
                json.dump(trainer, f)
        cache = os.path.join(work, "cache")
        runs = {"uncached": [], "cached": []}
        for i, seed in enumerate(range(1, seeds + 1)):
            order = ("uncached", "cached") if i % 2 == 0 else ("cached", "uncached")
            for mode in order:
                r = run(tool, configs[mode], epochs, seed, threads,
                        cache if mode == "cached" else "")
                print(f"{mode} seed {seed}: best {r['best_val_accuracy']:.4f} "
                      f"in {r['seconds']:.0f} s", file=sys.stderr, flush=True)
                runs[mode].append(r)
        out = {"train_images": train, "val_images": val, "epochs": epochs, "seeds": seeds,
               "backbone": backbone, "threads": threads, "params": PARAMS,
               "augmentation": "rotation 15, shift 0.1, hflip", "runs": runs,
               "load_average": os.getloadavg()}
        for mode in runs:
            m, se = mean_se([r["best_val_accuracy"] for r in runs[mode]])
            out[mode] = {"mean_best_val_accuracy": m, "standard_error": se,
                         "seconds": sum(r["seconds"] for r in runs[mode])}
        diff = out["cached"]["mean_best_val_accuracy"] - out["uncached"]["mean_best_val_accuracy"]
        se_diff = math.hypot(out["cached"]["standard_error"], out["uncached"]["standard_error"])
        out["difference"] = diff
        out["within_two_standard_errors"] = abs(diff) <= 2 * se_diff
        out["two_standard_errors"] = 2 * se_diff
        out["wall_time_ratio_uncached_over_cached"] = (out["uncached"]["seconds"] /
                                                       out["cached"]["seconds"])
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
