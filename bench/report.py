"""bench/run's tables: reads the raw measurements of one section (JSON and text files written
in the same run) and prints its markdown table with the ratios and the goal verdicts. Nothing
here is a measured figure: every number comes from the files.

  report.py control WORK TRIALS EPOCHS
  report.py trainer TRAINER.jsonl STEPS ROUNDS
  report.py fcache FCACHE.json
  report.py head HEAD.jsonl ROUNDS
  report.py augcache AUGCACHE.json
  report.py search SEARCH.json TRAIN VAL R
  report.py e2e TRIALS.json PEER.json OURS_SECONDS TRIALS TRAIN VAL EPOCHS VIEWS
  report.py hyperband-configs R ETA     (configurations in one Hyperband iteration)
"""
import json
import math
import os
import re
import sys


def verdict(ok):
    return "**met**" if ok else "**not met**"


def fmt(x, digits=0):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def control(work, trials, epochs):
    rows = {}
    for n in (1, 8, 64):
        text = open(os.path.join(work, f"cp-{n}.txt")).read()
        m = re.search(r"trials=(\d+).*?: ([\d.]+) trials/s.*p50 (\d+) us p99 (\d+) us, errors (\d+)", text)
        rows[n] = dict(done=int(m[1]), rate=float(m[2]), p50=int(m[3]), p99=int(m[4]), errors=int(m[5]))
    optuna = {p: json.load(open(os.path.join(work, f"optuna-{p}.json"))) for p in (1, 8)}
    best_optuna = max(o["trials_per_s"] for o in optuna.values())
    print("## 1. Control plane\n")
    print(f"Simulated workers (one gRPC connection each) run acquire -> {epochs} epoch reports -> "
          f"complete against tuner-server on a temp SQLite file (synchronous=FULL); {trials} trials "
          "per row. Optuna: SQLite RDB storage, RandomSampler, same space, ask -> report per epoch "
          "-> tell, P processes sharing one study.\n")
    print("| system | workers | trials | trials/s | AcquireTrial p50 | p99 | errors | ratio vs Optuna-SQLite, same workers |")
    print("|---|---|---|---|---|---|---|---|")
    for n, r in rows.items():
        if n == 64:
            ratio, label = r["rate"] / best_optuna, "Optuna's best"
        else:
            ratio = r["rate"] / optuna[n]["trials_per_s"]
            label = "1 process" if n == 1 else "8 processes"
        print(f"| ours | {n} | {r['done']} | {fmt(r['rate'])} | {r['p50']} µs | {r['p99']} µs | {r['errors']} | "
              f"{ratio:,.0f}x (vs {label}) |")
    for p, o in optuna.items():
        print(f"| Optuna 3.1 SQLite | {p} process{'es' if p > 1 else ''} | {o['trials']} | "
              f"{fmt(o['trials_per_s'], 1)} | | | {o['failed_processes']} failed processes | 1x |")
    r64 = rows[64]["rate"]
    print(f"\n- Goal >= 5,000 trials/s with 64 workers, durable: {fmt(r64)} -> {verdict(r64 >= 5000)}")
    print(f"- Goal >= 100x Optuna-SQLite (64 workers vs Optuna's best of 1 and 8 processes, "
          f"{fmt(best_optuna, 1)}/s): {r64 / best_optuna:,.0f}x -> {verdict(r64 / best_optuna >= 100)}\n")


def trainer(path, steps, rounds):
    runs = [json.loads(l) for l in open(path) if l.startswith("{")]
    keys = [("full_train", "ResNet50 full training step"),
            ("frozen_train", "frozen backbone (no grad) + head step"),
            ("forward", "backbone forward, eval, no grad (feature extraction)"),
            ("loader", "data loader alone (uint8 -> 3 ch, resize, normalise)"),
            ("loader_augmented", "data loader alone, + rotation 15 / shift 0.1 / flip")]
    print("## 2. Trainer\n")
    print(f"images/s, 2 threads, batch 32, random input; the project's ResNet50 (resnet.h) and "
          f"BatchLoader vs python torchvision.models.resnet50, both on Debian's libtorch 1.13. "
          f"Fastest step of {steps} (full training: {max(1, steps // 2)}) after a warm-up step, "
          f"best of {rounds} alternating run(s) per side (the box is shared: the fastest step is "
          "the least disturbed one). The python loader is the same work "
          "done with batched torch ops (affine_grid / grid_sample / interpolate).\n")
    print("| what | input | C++ | python | C++ / python |")
    print("|---|---|---|---|---|")
    ratios = []
    for size in sorted({r["size"] for r in runs}):
        for key, label in keys:
            best = {}
            for side in ("c++", "python"):
                vals = [r[key] for r in runs if r["side"] == side and r["size"] == size and key in r]
                best[side] = max(vals) if vals else None
            ratio = best["c++"] / best["python"] if best["c++"] and best["python"] else None
            if key in ("full_train", "frozen_train", "forward") and ratio:
                ratios.append((f"{key} {size}px", ratio))
            print(f"| {label} | {size} px | {fmt(best['c++'])} | {fmt(best['python'])} | "
                  f"{fmt(ratio, 2)}x |")
    if ratios:
        worst = min(r for _, r in ratios)
        print(f"\n- Goal >= 1.1x python on the model steps: lowest ratio {worst:.2f}x "
              f"({', '.join(f'{k} {v:.2f}x' for k, v in ratios)}) -> {verdict(worst >= 1.1)}\n")


def fcache(path):
    r = json.load(open(path))
    print("## 3. Feature cache\n")
    print(f"torch-trial, frozen ResNet50 ({r['weights']}: speed does not depend on the weights, "
          f"accuracy does), Fashion-MNIST {r['train_images']} train / {r['val_images']} validation "
          f"images at 32 px, batch 64, {r['epochs']} epochs, same params and seed in each run. "
          "Per-epoch time: gap between epoch reports, epoch 1 excluded.\n")
    print("| run | epoch 1 (incl. data load, extraction) | per epoch after | val_accuracy last | best |")
    print("|---|---|---|---|---|")
    names = {"off": "feature_cache: false", "cold": "cache, empty (first trial of a study)",
             "warm": "cache, filled (every later trial)"}
    for k in ("off", "cold", "warm"):
        x = r[k]
        print(f"| {names[k]} | {x['first_epoch_s']:.2f} s | {x['epoch_s']:.3f} s | "
              f"{x['val_accuracy']:.4f} | {x['best_val_accuracy']:.4f} |")
    off, cold, warm = r["off"], r["cold"], r["warm"]
    speedup = off["epoch_s"] / max(cold["epoch_s"], warm["epoch_s"])
    whole = off["total_s"] / warm["total_s"]
    diff = abs(off["best_val_accuracy"] - cold["best_val_accuracy"])
    noise = 2 * math.sqrt(0.25 / r["val_images"])
    print(f"\n- Goal >= 20x per epoch: {speedup:,.1f}x (the slower of the two cached runs) -> "
          f"{verdict(speedup >= 20)}; a whole later trial (all epochs, process start included) "
          f"{whole:,.1f}x faster")
    print(f"- Goal same accuracy within noise: |best off - best cached| = {diff:.4f} "
          f"(2 sigma of a {r['val_images']}-image accuracy ~ {noise:.3f}) -> {verdict(diff <= noise)}\n")


def head(path, rounds):
    runs = [json.loads(l) for l in open(path) if l.startswith("{")]
    ours = [r for r in runs if r["side"] == "c++"]
    peers = [r for r in runs if r["side"] == "python"]
    if not ours or not peers:
        print("### Cached head step\n\nskipped: no runs\n")
        return
    flop = ours[0]["head_flop_per_image"]
    load = open("/proc/loadavg").read().split()[:3]
    print("### Cached head step against the GEMM peak\n")
    print(f"bench-head (the trainer's Execution: transfer head 2048 -> {ours[0]['units']} -> 10, "
          f"dropout 0.3, {ours[0]['optimizer']}, batches gathered with index_select from "
          f"{ours[0]['train_images']} in-memory feature rows) against bench/head_peer.py (the "
          "straightforward PyTorch loop over the same head and features, with the default BLAS "
          "threads and with OPENBLAS_NUM_THREADS=1: python's better one counts), 2 threads, best "
          f"of {rounds} alternating round(s), fastest epoch of each. GEMM peak: the fastest float "
          "GEMM (1024^3, 2048 x 2048 x 512) measured by each process before its head runs. "
          f"The head's work: {flop / 1e6:.2f} MFLOP per image (forward and weight gradients; the "
          f"first layer's input gradient is never computed). Load average at the end: {', '.join(load)}.\n")
    peak = max(r["gemm_gflops"] for r in ours)
    py_peak = max(r["gemm_gflops"] for r in peers)
    print(f"Measured GEMM peak: {peak:.1f} GFLOP/s (bench-head), {py_peak:.1f} GFLOP/s (python).\n")
    print("| batch | ours images/s | GFLOP/s | % of GEMM peak | python best images/s (BLAS threads) | ours / python |")
    print("|---|---|---|---|---|---|")
    checks = []
    for key in sorted({k for r in runs for k in r if k.startswith("head_b")}, key=lambda k: int(k[6:])):
        mine = max(r[key] for r in ours if key in r)
        best_peer = max((r for r in peers if key in r), key=lambda r: r[key])
        theirs = best_peer[key]
        gflops = mine * flop / 1e9
        share = gflops / peak
        ratio = mine / theirs
        checks.append((key[6:], share, ratio))
        print(f"| {key[6:]} | {mine:,.0f} | {gflops:.1f} | {100 * share:.0f} % | {theirs:,.0f} "
              f"({best_peer.get('openblas_num_threads', 'default')}) | {ratio:.2f}x |")
    worst_share = min(c[1] for c in checks)
    worst_ratio = min(c[2] for c in checks)
    print(f"\n- Goal head step >= 50 % of the GEMM peak: lowest {100 * worst_share:.0f} % -> "
          f"{verdict(worst_share >= 0.5)}")
    print(f"- Goal >= 2x python's best head loop: lowest {worst_ratio:.2f}x -> "
          f"{verdict(worst_ratio >= 2)}\n")


def augcache(path):
    r = json.load(open(path))
    print("### Augmentation through the feature cache\n")
    print(f"torch-trial, frozen {r['backbone']} (random init), Fashion-MNIST {r['train_images']} "
          f"train / {r['val_images']} validation images at 32 px, {r['augmentation']}, "
          f"{r['epochs']} epochs, {r['seeds']} trial seeds, {r['threads']} threads; the cached "
          "runs share one cache dir as a study's trials do (each (execution, epoch) its own "
          "view). Modes alternate. Load average at the end: "
          f"{', '.join(f'{x:.1f}' for x in r['load_average'])}.\n")
    print("| mode | best val_accuracy per seed | mean | standard error | wall time, all seeds |")
    print("|---|---|---|---|---|")
    for mode in ("uncached", "cached"):
        per = ", ".join(f"{x['best_val_accuracy']:.4f}" for x in r["runs"][mode])
        m = r[mode]
        print(f"| {mode} | {per} | {m['mean_best_val_accuracy']:.4f} | "
              f"{m['standard_error']:.4f} | {m['seconds']:.0f} s |")
    print(f"\n- Goal cached within 2 standard errors of uncached: difference "
          f"{r['difference']:+.4f}, 2 SE of the difference {r['two_standard_errors']:.4f} -> "
          f"{verdict(r['within_two_standard_errors'])}")
    print(f"- Wall time uncached / cached over the {r['seeds']} trials: "
          f"{r['wall_time_ratio_uncached_over_cached']:.2f}x (the first cached trial extracts "
          "the views; later ones read them)\n")


def hyperband_configs(r, eta):
    s_max = 0
    while eta ** (s_max + 1) <= r:
        s_max += 1
    return sum(math.ceil((s_max + 1) * eta ** s / (s + 1)) for s in range(s_max + 1))


def search(path, train, val, r):
    rows = json.load(open(path))
    print("## 4. Search efficiency\n")
    print(f"lenet5 from scratch on Fashion-MNIST {train} train / {val} validation images (28 px), "
          f"one trial-worker (2 threads) so report order is training order. Hyperband R={r}, "
          f"eta=3 ({hyperband_configs(r, 3)} configurations, promoted trials resume from their "
          f"checkpoint); random: the same number of configurations, {r} epochs each. Target: the "
          "best val_accuracy the random study reached (any trial, any epoch) less 0.005; count: "
          "epochs trained until the study's best-so-far reached it.\n")
    print("| seed | target | random best | Hyperband best | random epochs to target (total) | "
          "Hyperband epochs to target (total) | Hyperband / random |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for x in rows:
        ratio = x["ratio"]
        if ratio is not None:
            ratios.append(ratio)
        h = x["hyperband_epochs_to_target"]
        print(f"| {x['seed']} | {x['target']:.4f} | {x['random_best']:.4f} | {x['hyperband_best']:.4f} | "
              f"{x['random_epochs_to_target']} ({x['random_epochs_total']}) | "
              f"{h if h is not None else 'not reached'} ({x['hyperband_epochs_total']}) | "
              f"{fmt(ratio, 2)} |")
    reached = len(ratios) == len(rows)
    mean = sum(ratios) / len(ratios) if ratios else None
    ok = reached and mean is not None and mean <= 1 / 3
    total = sum(x["hyperband_epochs_total"] for x in rows) / sum(x["random_epochs_total"] for x in rows)
    better = sum(1 for x in rows if (x["hyperband_best"] or 0) >= x["random_best"])
    print(f"\n- Goal Hyperband <= 1/3 of random's epochs: mean ratio {fmt(mean, 2)} over "
          f"{len(ratios)} of {len(rows)} seed(s) reaching the target -> {verdict(ok)}")
    print(f"- Whole searches: Hyperband trained {total:.2f}x random's epochs and found a best at "
          f"least as good as random's in {better} of {len(rows)} seed(s)\n")


def e2e(trials_path, peer_path, ours_seconds, n, train, val, epochs, views):
    trials = json.load(open(trials_path))["trials"]
    peer = json.load(open(peer_path))
    ours_values = [t["value"] for t in trials if t.get("value") is not None]
    ours_best = max(ours_values)
    ours_seconds = float(ours_seconds)
    print("## 5. End to end\n")
    print(f"The seed-000 study's shape on Fashion-MNIST (CIFAR-10 is not available here): {n} "
          f"random trials x 2 executions, frozen ResNet50 (random init) + head, 32 px, batch 64, "
          f"augmentation rotation 15 / shift 0.1 / flip, EarlyStopping(5, restore best), "
          f"ReduceLROnPlateau(0.5, 2), at most {epochs} epochs, {train} train / {val} validation "
          f"images. Ours: tuner-server + one trial-worker (2 threads, empty feature cache, "
          f"{views} augmented views cached), wall time from start-study to done. Python: a "
          "plain PyTorch loop over the same configurations (the backbone runs on every "
          "augmented batch, Keras-style), 2 threads.\n")
    print("| system | wall time | best trial val_accuracy | trials |")
    print("|---|---|---|---|")
    print(f"| ours (service, feature cache) | {ours_seconds:.0f} s | {ours_best:.4f} | {len(ours_values)} |")
    print(f"| python PyTorch loop | {peer['seconds']:.0f} s | {peer['best']:.4f} | {peer['trials']} |")
    speedup = peer["seconds"] / ours_seconds
    diff = ours_best - peer["best"]
    noise = 2 * math.sqrt(0.25 / val)
    print(f"\n- Goal >= 10x faster: {speedup:.1f}x -> {verdict(speedup >= 10)}")
    print(f"- Goal equal accuracy: ours - python = {diff:+.4f} (2 sigma of a {val}-image accuracy "
          f"~ {noise:.3f}) -> {verdict(diff >= -noise)}\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "control":
        control(args[0], int(args[1]), int(args[2]))
    elif cmd == "head":
        head(args[0], int(args[1]))
    elif cmd == "trainer":
        trainer(args[0], int(args[1]), int(args[2]))
    elif cmd == "fcache":
        fcache(args[0])
    elif cmd == "augcache":
        augcache(args[0])
    elif cmd == "search":
        search(args[0], *(int(a) for a in args[1:4]))
    elif cmd == "e2e":
        e2e(*args[:3], *(int(a) for a in args[3:8]))
    elif cmd == "hyperband-configs":
        print(hyperband_configs(int(args[0]), int(args[1])))
    else:
        raise SystemExit(f"report.py: unknown table {cmd}")


if __name__ == "__main__":
    main()
