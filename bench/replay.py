"""Multi-fidelity efficiency on real learning curves, replayed through a real tuner-server.

  record: trains every configuration of a grid with our own trainer (torch-trial, lenet5 on a
          Fashion-MNIST subset, 27 epochs each) and writes the table of per-epoch validation
          accuracies (bench/curves/*.json, committed).
  run:    replays the table: a study per (algorithm, seed, workers) on a real tuner-server,
          whose search space is the grid; W replay workers lease trials through the proto and
          report the recorded value of each epoch they "train", in simulated time (each epoch
          costs the seconds it took when recorded; the worker that frees first acts next, as
          in Syne Tune's simulator), so 20 seeds x 1 and 8 workers take minutes. Optuna's TPE
          with HyperbandPruner / SuccessiveHalvingPruner runs on the same table in the same
          run. Prints one JSON object.
  report: tables from run's JSON.

  /usr/bin/python3 bench/replay.py record TORCH_TRIAL DATASET OUT.json [--train N --val N --jobs 2]
  /usr/bin/python3 bench/replay.py run SERVER_BIN TABLE.json OUT.json [--seeds 20 --workers 1,8]
  /usr/bin/python3 bench/replay.py report OUT.json
"""
import argparse
import heapq
import itertools
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GRID = {
    "units": [64, 128, 256, 512],
    "dropout": [0.0, 0.2, 0.4, 0.6],
    "optimizer": ["adam", "rmsprop", "sgd"],
    "learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
}
MAX_EPOCHS = 27


def key(params):
    return json.dumps({k: params[k] for k in sorted(GRID)}, sort_keys=True)


# ---- record -------------------------------------------------------------------------------
def cmd_record(args):
    config = {"kind": "torch", "batch_size": 64, "input_size": 28,
              "dataset": {"name": "fashion_mnist", "path": args.dataset,
                          "limit_train": args.train, "limit_val": args.val},
              "backbone": {"name": "lenet5"}}
    folder = tempfile.mkdtemp(prefix="tuner-record-")
    config_path = os.path.join(folder, "trainer.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    combos = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    rows, running = {}, []
    start = time.time()

    def launch(params):
        p = subprocess.Popen([args.torch_trial, config_path, "--epochs", str(MAX_EPOCHS),
                              "--params", json.dumps(params), "--threads", "1", "--seed", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return (params, p, time.time())

    pending = list(combos)
    while pending or running:
        while pending and len(running) < args.jobs:
            running.append(launch(pending.pop(0)))
        params, proc, began = running.pop(0)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"torch-trial failed for {params}: {err[-2000:]}")
        curve = [json.loads(line) for line in out.splitlines() if line.startswith('{"')]
        curve = [r for r in curve if "epoch" in r and r.get("execution", 0) == 0]
        seconds = (time.time() - began) / max(len(curve), 1)
        rows[key(params)] = {"params": params, "val_accuracy": [r["value"] for r in curve],
                             "epoch_seconds": seconds}
        print(f"record: {len(rows)}/{len(combos)} {params} best "
              f"{max(r['value'] for r in curve):.4f} ({time.time() - start:.0f} s)",
              file=sys.stderr, flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    table = {"trainer": config, "max_epochs": MAX_EPOCHS, "grid": GRID,
             "recorded": time.strftime("%Y-%m-%d %H:%M"), "configurations": list(rows.values())}
    with open(args.out, "w") as f:
        json.dump(table, f, separators=(",", ":"))


# ---- run ----------------------------------------------------------------------------------
def space_yaml():
    lines = ["search_space:"]
    for name, values in GRID.items():
        lines.append(f"  {name}: {{type: choice, values: [{', '.join(str(v) for v in values)}]}}")
    return "\n".join(lines)


ALGORITHMS = {  # name -> algorithm and sampler lines; budget-matched below
    "random": ("{kind: random, max_trials: %(random_trials)d}", "sampler: random"),
    "hyperband": ("{kind: hyperband, max_epochs: 27, eta: 3, iterations: %(hb_iterations)d}",
                  "sampler: random"),
    "asha": ("{kind: asha, max_trials: %(asha_trials)d, min_epochs: 1, max_epochs: 27, eta: 3}",
             "sampler: random"),
    "bohb": ("{kind: hyperband, max_epochs: 27, eta: 3, iterations: %(hb_iterations)d}",
             "sampler: tpe"),
    "asha-tpe": ("{kind: asha, max_trials: %(asha_trials)d, min_epochs: 1, max_epochs: 27, "
                 "eta: 3}", "sampler: tpe"),
}


def run_ours(server, table, algorithm, seed, workers, sizes, budget):
    from search_quality import params_of
    pb = server.pb
    algo, sampler = ALGORITHMS[algorithm]
    spec = "\n".join([f"name: replay-{algorithm}-{seed}-w{workers}",
                      "objective: {metric: val_accuracy, direction: maximize}",
                      f"algorithm: {algo % sizes}", sampler, f"seed: {seed}", "max_attempts: 1",
                      space_yaml(), f"trainer: {{kind: synthetic, epochs: {MAX_EPOCHS}}}", ""])
    study_id = server.studies.CreateStudy(pb.CreateStudyRequest(spec_yaml=spec)).study_id
    curves = {k: row for k, row in ((key(r["params"]), r) for r in table["configurations"])}
    now, events, trace, spent = 0.0, [], [], 0
    idle = list(range(workers))
    order = itertools.count()
    finished = False
    while not finished:
        # Idle workers lease at the current simulated time.
        still_idle = []
        for slot in idle:
            if spent >= budget:
                still_idle.append(slot)
                continue
            got = server.workers.AcquireTrial(pb.AcquireTrialRequest(
                worker_id=server.worker(slot), wait_seconds=0))
            if not got.has_trial:
                still_idle.append(slot)
                continue
            assert got.study_id == study_id
            row = curves[key(params_of(got))]
            end = now + row["epoch_seconds"] * (got.budget_epochs - got.start_epoch)
            heapq.heappush(events, (end, next(order), slot, got, row))
        idle = still_idle
        if not events:
            break  # nothing runs and nothing can be leased: the study is done (or the budget)
        end, _, slot, got, row = heapq.heappop(events)
        now = end
        value = None
        for epoch in range(got.start_epoch + 1, got.budget_epochs + 1):
            value = row["val_accuracy"][epoch - 1]
            spent += 1
            trace.append((spent, now, value))
            reply = server.workers.ReportIntermediate(pb.ReportIntermediateRequest(
                lease=got.lease, intermediate=pb.IntermediateValue(
                    execution=0, epoch=epoch, value=value)))
            if reply.stop:
                break
        server.workers.CompleteTrial(pb.CompleteTrialRequest(lease=got.lease, value=value,
                                                             epochs_done=epoch))
        idle.append(slot)
    # The budget may end a study that still has work (ASHA, a last Hyperband bracket).
    server.studies.StopStudy(pb.StopStudyRequest(study_id=study_id))
    return trace


def run_optuna(table, pruner_name, seed, budget):
    import optuna
    optuna.logging.set_verbosity(logging.ERROR)
    pruner = (optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS,
                                             reduction_factor=3)
              if pruner_name == "hyperband" else
              optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    study = optuna.create_study(direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    curves = {key(r["params"]): r for r in table["configurations"]}
    trace, spent = [], 0
    while spent < budget:
        trial = study.ask()
        params = {name: trial.suggest_categorical(name, values) for name, values in GRID.items()}
        row = curves[key(params)]
        pruned = False
        for epoch in range(1, MAX_EPOCHS + 1):
            value = row["val_accuracy"][epoch - 1]
            spent += 1
            trace.append((spent, 0.0, value))
            trial.report(value, epoch)
            if trial.should_prune():
                pruned = True
                break
            if spent >= budget:
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    return trace


def cmd_run(args):
    from search_quality import Server
    with open(args.table) as f:
        table = json.load(f)
    # Budget-matched: random trains random_trials configurations fully; Hyperband runs as many
    # iterations as fit in about the same number of epochs; ASHA and Optuna stop there too.
    random_trials = args.random_trials
    budget = random_trials * MAX_EPOCHS
    sizes = {"random_trials": random_trials, "hb_iterations": max(1, round(budget / 423)),
             "asha_trials": 10 * random_trials}
    server = Server(args.server_bin)
    results = {"budget_epochs": budget, "seeds": args.seeds, "sizes": sizes, "runs": [],
               "table": {"configurations": len(table["configurations"]),
                         "recorded": table.get("recorded"), "trainer": table.get("trainer")}}
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            for algorithm in ALGORITHMS:
                if args.methods and algorithm not in args.methods.split(","):
                    continue
                start = time.time()
                for seed in range(args.seeds):
                    trace = run_ours(server, table, algorithm, seed, workers, sizes, budget)
                    results["runs"].append({"method": f"ours-{algorithm}", "workers": workers,
                                            "seed": seed, "trace": trace})
                print(f"replay: ours-{algorithm} w{workers}: {time.time() - start:.1f} s",
                      file=sys.stderr, flush=True)
        for pruner in ["hyperband", "sha"]:
            if args.methods and f"optuna-{pruner}" not in args.methods.split(","):
                continue
            start = time.time()
            for seed in range(args.seeds):
                results["runs"].append({"method": f"optuna-tpe-{pruner}", "workers": 1,
                                        "seed": seed, "trace": run_optuna(table, pruner, seed,
                                                                          budget)})
            print(f"replay: optuna-tpe-{pruner}: {time.time() - start:.1f} s", file=sys.stderr,
                  flush=True)
    finally:
        server.close()
    best = max(max(r["val_accuracy"]) for r in table["configurations"])
    results["table_best"] = best
    with open(args.out, "w") as f:
        json.dump(results, f)


# ---- report -------------------------------------------------------------------------------
def epochs_to(trace, target):
    best = float("-inf")
    for spent, _, value in trace:
        best = max(best, value)
        if best >= target:
            return spent
    return None


def cmd_report(args):
    with open(args.results) as f:
        res = json.load(f)
    best = res["table_best"]
    lines = [f"Table: {res['table']['configurations']} configurations x 27 epochs "
             f"(recorded {res['table']['recorded']}; best val_accuracy in it {best:.4f}); "
             f"budget {res['budget_epochs']} epochs per study (= {res['sizes']['random_trials']} "
             f"configurations trained fully), {res['seeds']} seeds.\n",
             "Epochs are counted in the order they were trained (simulated time with 8 workers); "
             "the target is the same seed's random search's final best; a seed that never reached "
             "it counts as infinitely many epochs.\n",
             "| method | workers | final regret (mean) | epochs to random's final best (median) | "
             "ratio to the epochs random needed to find it (median) | ratio to random's whole "
             "budget (median) | seeds that reached it |",
             "|---|---|---|---|---|---|---|"]
    runs = res["runs"]
    randoms = {(r["workers"], r["seed"]): r for r in runs if r["method"] == "ours-random"}
    groups = {}
    for r in runs:
        groups.setdefault((r["method"], r["workers"]), []).append(r)
    summary = {}
    for (method, workers), rs in sorted(groups.items(), key=lambda x: (x[0][1], x[0][0])):
        regrets, epochs, ratios, reached = [], [], [], 0
        for r in rs:
            rnd = randoms.get((workers, r["seed"])) or randoms.get((1, r["seed"]))
            target = max(v for _, _, v in rnd["trace"])
            rnd_epochs = epochs_to(rnd["trace"], target)
            regrets.append(best - max(v for _, _, v in r["trace"]))
            e = epochs_to(r["trace"], target)
            reached += e is not None
            epochs.append(e if e is not None else float("inf"))
            ratios.append(e / rnd_epochs if e is not None else float("inf"))
        ratio = statistics.median(ratios)
        of_budget = statistics.median(epochs) / res["budget_epochs"]
        summary[(method, workers)] = (ratio, of_budget)
        lines.append(f"| {method} | {workers} | {statistics.mean(regrets):.4f} | "
                     f"{statistics.median(epochs):g} | {ratio:.3f} | {of_budget:.3f} | "
                     f"{reached}/{len(rs)} |")
    lines.append("")
    for workers in sorted({w for _, w in summary}):
        got = summary.get(("ours-bohb", workers))
        if got is not None:
            ratio, of_budget = got
            lines.append(f"- BOHB, {workers} worker(s), median over seeds (goal: <= 0.2): "
                         f"{ratio:.3f} of the epochs random search needed to find its final best "
                         f"({'met' if ratio <= 0.2 else 'not met'}); {of_budget:.3f} of the epochs "
                         f"random search ran ({'met' if of_budget <= 0.2 else 'not met'})")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("torch_trial")
    rec.add_argument("dataset")
    rec.add_argument("out")
    rec.add_argument("--train", type=int, default=2000)
    rec.add_argument("--val", type=int, default=1000)
    rec.add_argument("--jobs", type=int, default=2)
    run = sub.add_parser("run")
    run.add_argument("server_bin")
    run.add_argument("table")
    run.add_argument("out")
    run.add_argument("--seeds", type=int, default=20)
    run.add_argument("--workers", default="1,8")
    run.add_argument("--random-trials", type=int, default=64)
    run.add_argument("--methods", default="",
                     help="comma-separated subset of random,hyperband,asha,bohb,asha-tpe,"
                          "optuna-hyperband,optuna-sha (default: all)")
    rep = sub.add_parser("report")
    rep.add_argument("results")
    args = parser.parse_args()
    {"record": cmd_record, "run": cmd_run, "report": cmd_report}[args.cmd](args)
