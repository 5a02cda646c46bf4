"""Search-quality table: our samplers through a real tuner-server, side by side with Debian's
Optuna 3.1 on the same problems, same budget, same seeds, in the same run.

Our side goes through the public proto the way users' workers do: a study per (problem,
sampler, seed) is created with CreateStudy, and P workers (RegisterWorker) lease its trials
with AcquireTrial, evaluate the function and CompleteTrial. With P = 8, eight trials are always
in flight: the oldest is completed, then its worker leases the next (the same order every run).
Optuna runs the same functions through ask / tell, with the same P trials in flight.

  /usr/bin/python3 bench/search_quality.py run SERVER_BIN OUT.json [--seeds N] [--trials N]
      [--parallel 1,8] [--problems a,b] [--samplers ours-tpe,optuna-tpe,...]
  /usr/bin/python3 bench/search_quality.py report OUT.json [--svg docs/images/x.svg]

Problems are the published definitions (Branin, Hartmann 3 and 6, Rosenbrock, Ackley, Levy,
Styblinski-Tang; Surjanovic & Bingham's Virtual Library of Simulation Experiments), three
HPO-shaped spaces of ours and a noisy Hartmann 6. The value of a study is the true
(noise-free) value of the configuration it would return, the best observed one.
"""
import argparse
import atexit
import json
import logging
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- problems -------------------------------------------------------------------------------
# A space is a list of (name, kind, args, condition): kind float / int / choice; args a dict
# (min, max, log, step / values); condition None or (parent, [values]).


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


H3_A = [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]
H3_P = [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
H_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann(a, pm, x):
    total = 0.0
    for i in range(4):
        inner = sum(a[i][j] * (x[j] - 1e-4 * pm[i][j]) ** 2 for j in range(len(x)))
        total -= H_ALPHA[i] * math.exp(-inner)
    return total


def hartmann3(p):
    return hartmann(H3_A, H3_P, [p[f"x{i}"] for i in range(3)])


def hartmann6(p):
    return hartmann(H6_A, H6_P, [p[f"x{i}"] for i in range(6)])


def rosenbrock(p):
    x = [p[f"x{i}"] for i in range(4)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(3))


def ackley(p):
    x = [p[f"x{i}"] for i in range(5)]
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


def levy(p):
    x = [p[f"x{i}"] for i in range(4)]
    w = [1 + (v - 1) / 4 for v in x]
    total = math.sin(math.pi * w[0]) ** 2
    for v in w[:-1]:
        total += (v - 1) ** 2 * (1 + 10 * math.sin(math.pi * v + 1) ** 2)
    return total + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def styblinski_tang(p):
    x = [p[f"x{i}"] for i in range(4)]
    return sum(v ** 4 - 16 * v ** 2 + 5 * v for v in x) / 2


def goldstein_price(p):
    x, y = p["x0"], p["x1"]
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x * x - 14 * y + 6 * x * y + 3 * y * y)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x * x + 48 * y - 36 * x * y + 27 * y * y)
    return math.log(a * b)  # log scale, as in the GP literature (optimum log 3)


def rastrigin(p):
    x = [p[f"x{i}"] for i in range(4)]
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)


def michalewicz(p):
    x = [p[f"x{i}"] for i in range(5)]
    return -sum(math.sin(v) * math.sin((i + 1) * v * v / math.pi) ** 20 for i, v in enumerate(x))


SHEKEL_B = [0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.3, 0.7, 0.5, 0.5]
SHEKEL_C = [[4, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6],
            [4, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4, 1, 8, 6, 7, 9, 3, 1, 2, 3.6]]


def shekel(p):
    x = [p[f"x{i}"] for i in range(4)]
    return -sum(1 / (SHEKEL_B[i] + sum((x[j] - SHEKEL_C[j][i]) ** 2 for j in range(4)))
                for i in range(10))


def sphere(p):
    return sum((p[f"x{i}"] - 0.3) ** 2 for i in range(8))


def six_hump_camel(p):
    x, y = p["x0"], p["x1"]
    return (4 - 2.1 * x * x + x ** 4 / 3) * x * x + x * y + (-4 + 4 * y * y) * y * y


def floats(n, lo, hi):
    return [(f"x{i}", "float", {"min": lo, "max": hi}, None) for i in range(n)]


# HPO-shaped: validation error of a made-up but HPO-like response surface (a transfer head).
LR_BEST = {"adam": -3.0, "rmsprop": -3.3, "sgd": -1.3}


def hpo_head(p):
    opt = p["optimizer"]
    err = 0.08 + 0.04 * (math.log10(p["learning_rate"]) - LR_BEST[opt]) ** 2
    width = math.log2(p["units"] / 64)  # 0..4
    err += 0.006 * (width - 2.5) ** 2
    err += 0.05 * (p["dropout"] - (0.1 + 0.08 * width)) ** 2 * 10
    if opt == "sgd":
        err += 0.06 * (0.95 - p["momentum"]) ** 2 * 4 - 0.012
    elif opt == "rmsprop":
        err += 0.01
    return min(err, 0.9)


def hpo_cnn(p):
    act = {"relu": 0.0, "gelu": -0.01, "tanh": 0.03, "sigmoid": 0.08}[p["activation"]]
    capacity = p["layers"] * math.log2(p["filters"])  # 3..48
    err = 0.1 + act + 0.0004 * (capacity - 30) ** 2
    err += 0.02 * (math.log10(p["weight_decay"]) + 4) ** 2
    err += 0.03 * (math.log2(p["batch_size"]) - 6 - 0.1 * p["layers"]) ** 2
    return min(err, 0.9)


def hpo_boost(p):
    depth = p["max_depth"]
    booster = p["booster"]
    base = {"gbtree": 0.0, "dart": 0.005, "gblinear": 0.04}[booster]
    eta_best = {3: -0.5, 6: -1.0, 9: -1.5}[depth] if booster != "gblinear" else -0.3
    err = 0.12 + base + 0.03 * (math.log10(p["eta"]) - eta_best) ** 2
    err += 0.05 * (p["subsample"] - (0.9 - 0.03 * depth)) ** 2
    if booster != "gblinear":
        err += 0.003 * abs(depth - 6) / 3
    return err


PROBLEMS = {
    "branin": (branin, [("x1", "float", {"min": -5.0, "max": 10.0}, None),
                        ("x2", "float", {"min": 0.0, "max": 15.0}, None)], 0.397887, 0.0),
    "hartmann3": (hartmann3, floats(3, 0.0, 1.0), -3.86278, 0.0),
    "hartmann6": (hartmann6, floats(6, 0.0, 1.0), -3.32237, 0.0),
    "rosenbrock4": (rosenbrock, floats(4, -5.0, 10.0), 0.0, 0.0),
    "ackley5": (ackley, floats(5, -32.768, 32.768), 0.0, 0.0),
    "levy4": (levy, floats(4, -10.0, 10.0), 0.0, 0.0),
    "styblinski_tang4": (styblinski_tang, floats(4, -5.0, 5.0), -39.16599 * 4, 0.0),
    "hpo_head": (hpo_head, [
        ("units", "choice", {"values": [64, 128, 256, 512, 1024]}, None),
        ("dropout", "float", {"min": 0.0, "max": 0.7, "step": 0.05}, None),
        ("optimizer", "choice", {"values": ["adam", "rmsprop", "sgd"]}, None),
        ("learning_rate", "float", {"min": 1e-5, "max": 1e-1, "log": True}, None),
        ("momentum", "float", {"min": 0.0, "max": 0.99}, ("optimizer", ["sgd"]))], None, 0.0),
    "hpo_cnn": (hpo_cnn, [
        ("layers", "int", {"min": 1, "max": 6}, None),
        ("filters", "int", {"min": 8, "max": 256, "log": True}, None),
        ("activation", "choice", {"values": ["relu", "gelu", "tanh", "sigmoid"]}, None),
        ("batch_size", "int", {"min": 16, "max": 512, "step": 16}, None),
        ("weight_decay", "float", {"min": 1e-6, "max": 1e-2, "log": True}, None)], None, 0.0),
    "hpo_boost": (hpo_boost, [
        ("booster", "choice", {"values": ["gbtree", "dart", "gblinear"]}, None),
        ("max_depth", "choice", {"values": [3, 6, 9]}, None),
        ("subsample", "float", {"min": 0.5, "max": 1.0}, None),
        ("eta", "float", {"min": 1e-3, "max": 1.0, "log": True}, None)], None, 0.0),
    "noisy_hartmann6": (hartmann6, floats(6, 0.0, 1.0), -3.32237, 0.2),
    # Held out: not looked at while our TPE's defaults were chosen.
    "heldout_goldstein_price": (goldstein_price, floats(2, -2.0, 2.0), math.log(3.0), 0.0),
    "heldout_rastrigin4": (rastrigin, floats(4, -5.12, 5.12), 0.0, 0.0),
    "heldout_michalewicz5": (michalewicz, floats(5, 0.0, math.pi), -4.687658, 0.0),
    "heldout_shekel4": (shekel, floats(4, 0.0, 10.0), -10.5364, 0.0),
    "heldout_sphere8": (sphere, floats(8, -1.0, 1.0), 0.0, 0.0),
    "heldout_six_hump_camel": (six_hump_camel, [("x0", "float", {"min": -3.0, "max": 3.0}, None),
                                                ("x1", "float", {"min": -2.0, "max": 2.0}, None)],
                               -1.0316, 0.0),
}
NUMERIC = {name for name, (_, space, _, _) in PROBLEMS.items()
           if all(kind == "float" for _, kind, _, _ in space)}
MAIN_TEN = ["branin", "hartmann3", "hartmann6", "rosenbrock4", "ackley5", "levy4",
            "styblinski_tang4", "hpo_head", "hpo_cnn", "hpo_boost"]


def space_yaml(space):
    lines = ["search_space:"]
    for name, kind, args, cond in space:
        fields = [f"type: {kind}"]
        if kind == "choice":
            fields.append("values: [" + ", ".join(str(v) for v in args["values"]) + "]")
        else:
            fields.append(f"min: {args['min']!r}")
            fields.append(f"max: {args['max']!r}")
            if args.get("log"):
                fields.append("log: true")
            if "step" in args:
                fields.append(f"step: {args['step']!r}")
        if cond:
            fields.append("when: {" + cond[0] + ": [" + ", ".join(cond[1]) + "]}")
        lines.append(f"  {name}: {{" + ", ".join(fields) + "}")
    return "\n".join(lines)


# ---- our side: a real tuner-server --------------------------------------------------------
OURS = {
    "ours-random": "sampler: random",
    "ours-tpe": "sampler: tpe",
    "ours-tpe-univariate": "sampler: {kind: tpe, multivariate: false, constant_liar: false}",
    "ours-gp": "sampler: gp",
}


def generate_stubs():
    out = tempfile.mkdtemp(prefix="tuner-bench-py-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", f"--proto_path={ROOT}", f"--python_out={out}",
                    f"--grpc_python_out={out}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(ROOT, "proto", "tuner.proto")], check=True)
    sys.path.insert(0, out)
    from proto import tuner_pb2, tuner_pb2_grpc  # noqa: E402
    return tuner_pb2, tuner_pb2_grpc


class Server:
    def __init__(self, binary):
        import grpc
        self.pb, rpc = generate_stubs()
        self.folder = tempfile.mkdtemp(prefix="tuner-bench-sq-")
        port_file = os.path.join(self.folder, "port")
        self.log = open(os.path.join(self.folder, "server.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "--db", os.path.join(self.folder, "sq.db"), "--listen", "127.0.0.1:0",
             "--port-file", port_file, "--log-level", "warn"], stdout=self.log, stderr=self.log)
        for _ in range(400):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.studies = rpc.StudyServiceStub(self.channel)
        self.workers = rpc.WorkerServiceStub(self.channel)
        self.worker_ids = []

    def worker(self, k):
        while len(self.worker_ids) <= k:
            n = len(self.worker_ids)
            self.worker_ids.append(self.workers.RegisterWorker(self.pb.RegisterWorkerRequest(
                name=f"bench-{n}", host="localhost", devices=["cpu"])).worker_id)
        return self.worker_ids[k]

    def close(self):
        self.channel.close()
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def params_of(response):
    out = {}
    for name, v in response.params.items():
        kind = v.WhichOneof("kind")
        out[name] = getattr(v, kind)
    return out


def run_ours(server, problem, sampler, seed, trials, parallel):
    f, space, _, noise = PROBLEMS[problem]
    spec = "\n".join([
        f"name: sq-{problem}-{sampler}-{seed}-p{parallel}",
        "objective: {metric: val_loss, direction: minimize}",
        f"algorithm: {{kind: random, max_trials: {trials}}}",
        OURS[sampler], f"seed: {seed}", "max_attempts: 1", space_yaml(space),
        "trainer: {kind: synthetic, epochs: 1}", ""])
    pb = server.pb
    study_id = server.studies.CreateStudy(pb.CreateStudyRequest(spec_yaml=spec)).study_id
    noise_rng = random.Random(seed * 7919 + 1)
    in_flight = []  # (worker slot, response)
    trace = []      # (noisy value, true value) in completion order
    free = list(range(parallel))
    exhausted = False
    while True:
        while free and not exhausted:
            slot = free.pop(0)
            got = server.workers.AcquireTrial(pb.AcquireTrialRequest(
                worker_id=server.worker(slot), wait_seconds=0))
            if not got.has_trial:
                exhausted = True
                free.insert(0, slot)
                break
            assert got.study_id == study_id, "a trial of another study"
            in_flight.append((slot, got))
        if not in_flight:
            break
        slot, got = in_flight.pop(0)
        true_value = f(params_of(got))
        noisy = true_value + (noise_rng.gauss(0, noise) if noise else 0.0)
        server.workers.CompleteTrial(pb.CompleteTrialRequest(lease=got.lease, value=noisy,
                                                             epochs_done=1))
        trace.append((noisy, true_value))
        free.append(slot)
    return trace


# ---- Optuna's side ------------------------------------------------------------------------
def optuna_sampler(name, seed, parallel):
    import optuna
    if name == "optuna-random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "optuna-tpe-mv":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                          constant_liar=parallel > 1,
                                          warn_independent_sampling=False)
    if name == "optuna-cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise ValueError(name)


def suggest(trial, space):
    p = {}
    for name, kind, args, cond in space:
        if cond and p.get(cond[0]) not in [type(p.get(cond[0]))(v) if p.get(cond[0]) is not None else v for v in cond[1]]:
            continue
        if kind == "choice":
            p[name] = trial.suggest_categorical(name, args["values"])
        elif kind == "int":
            p[name] = trial.suggest_int(name, args["min"], args["max"], step=args.get("step", 1),
                                        log=args.get("log", False))
        else:
            p[name] = trial.suggest_float(name, args["min"], args["max"], step=args.get("step"),
                                          log=args.get("log", False))
    return p


def run_optuna(problem, sampler, seed, trials, parallel):
    import optuna
    f, space, _, noise = PROBLEMS[problem]
    study = optuna.create_study(direction="minimize", sampler=optuna_sampler(sampler, seed,
                                                                             parallel))
    noise_rng = random.Random(seed * 7919 + 1)
    in_flight, trace, asked = [], [], 0
    while asked < trials or in_flight:
        while len(in_flight) < parallel and asked < trials:
            t = study.ask()
            in_flight.append((t, suggest(t, space)))
            asked += 1
        t, p = in_flight.pop(0)
        true_value = f(p)
        noisy = true_value + (noise_rng.gauss(0, noise) if noise else 0.0)
        study.tell(t, noisy)
        trace.append((noisy, true_value))
    return trace


def best_so_far(trace):
    out, best_noisy, best_true = [], math.inf, math.inf
    for noisy, true_value in trace:
        if noisy < best_noisy:
            best_noisy, best_true = noisy, true_value
        out.append(best_true)
    return out


def cmd_run(args):
    import optuna
    import warnings
    optuna.logging.set_verbosity(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    problems = args.problems.split(",") if args.problems else list(PROBLEMS)
    samplers = args.samplers.split(",") if args.samplers else (
        list(OURS) + ["optuna-random", "optuna-tpe", "optuna-tpe-mv", "optuna-cmaes"])
    server = Server(args.server_bin)
    results = {"trials": args.trials, "seeds": args.seeds, "runs": [], "seconds": {},
               "load": os.getloadavg()[0]}
    try:
        for parallel in [int(v) for v in args.parallel.split(",")]:
            for problem in problems:
                for sampler in samplers:
                    if sampler == "optuna-cmaes" and problem not in NUMERIC:
                        continue
                    if sampler == "ours-gp" and args.gp_trials:
                        trials = min(args.trials, args.gp_trials)
                    else:
                        trials = args.trials
                    start = time.time()
                    for seed in range(args.seeds):
                        if sampler.startswith("ours-"):
                            trace = run_ours(server, problem, sampler, seed, trials, parallel)
                        else:
                            trace = run_optuna(problem, sampler, seed, trials, parallel)
                        results["runs"].append({"problem": problem, "sampler": sampler,
                                                "parallel": parallel, "seed": seed,
                                                "best": best_so_far(trace)})
                    key = f"{sampler}/p{parallel}"
                    results["seconds"][key] = results["seconds"].get(key, 0) + time.time() - start
                    print(f"search_quality: {problem} {sampler} p{parallel}: "
                          f"{time.time() - start:.1f} s", file=sys.stderr, flush=True)
    finally:
        server.close()
    with open(args.out, "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("server_bin")
    run.add_argument("out")
    run.add_argument("--seeds", type=int, default=20)
    run.add_argument("--trials", type=int, default=100)
    run.add_argument("--gp-trials", type=int, default=0)
    run.add_argument("--parallel", default="1,8")
    run.add_argument("--problems", default="")
    run.add_argument("--samplers", default="")
    rep = sub.add_parser("report")
    rep.add_argument("results")
    rep.add_argument("--svg", default="")
    args = parser.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    else:
        from search_quality_report import report  # noqa: E402
        report(args)
