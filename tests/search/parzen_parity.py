"""Writes random observation sets and what Optuna 3.1's own _ParzenEstimator (Debian's
python3-optuna) builds from them: mixture weights, each param's kernel centres and widths or
choice probabilities, and log densities at points it samples. parzen_parity_test replays the
same observations through our ParzenEstimator in the same ctest run and compares.

Optuna 3.1's truncated-normal log density leaves out the -log(scale) term (optuna issue #5109,
fixed upstream by pull request #5110), so its mixture is not a density. Our estimator uses the
true density; the densities written here are Optuna's with that fix applied. Log ints are
compared on their kernels only: we score them by their cell's mass, as upstream does since
pull request #6258, Optuna 3.1 by a density.

  /usr/bin/python3 tests/search/parzen_parity.py OUT.json
"""
import json
import random
import sys

import numpy as np
import optuna
from optuna import distributions as d
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe import parzen_estimator as optuna_parzen
from optuna.samplers._tpe.sampler import default_weights

_unscaled_logpdf = optuna_parzen.truncnorm.logpdf


def _logpdf_with_scale(x, a, b, loc=0, scale=1):  # upstream pull request #5110
    return _unscaled_logpdf(x, a, b, loc=loc, scale=scale) - np.log(scale)

KINDS = ["float", "float_log", "float_step", "int", "int_step", "int_log", "choice"]


def make_param(rng, name):
    kind = rng.choice(KINDS)
    if kind == "float":
        lo = rng.uniform(-10, 5)
        return {"name": name, "kind": kind, "min": lo, "max": lo + rng.uniform(0.5, 20)}
    if kind == "float_log":
        lo = 10 ** rng.uniform(-6, 0)
        return {"name": name, "kind": kind, "min": lo, "max": lo * 10 ** rng.uniform(0.5, 5)}
    if kind == "float_step":
        step = rng.choice([0.125, 0.25, 0.5, 1.0])
        lo = round(rng.uniform(-2, 2) / step) * step
        return {"name": name, "kind": kind, "min": lo, "max": lo + step * rng.randint(2, 30),
                "step": step}
    if kind == "int":
        lo = rng.randint(-5, 10)
        return {"name": name, "kind": kind, "min": lo, "max": lo + rng.randint(1, 50)}
    if kind == "int_step":
        step = rng.choice([2, 4, 16])
        lo = rng.randint(0, 10)
        return {"name": name, "kind": kind, "min": lo, "max": lo + step * rng.randint(2, 20),
                "step": step}
    if kind == "int_log":
        lo = rng.randint(1, 16)
        return {"name": name, "kind": kind, "min": lo, "max": lo * rng.randint(4, 64)}
    return {"name": name, "kind": kind, "values": [f"v{i}" for i in range(rng.randint(2, 6))]}


def distribution(p):
    k = p["kind"]
    if k == "float":
        return d.FloatDistribution(p["min"], p["max"])
    if k == "float_log":
        return d.FloatDistribution(p["min"], p["max"], log=True)
    if k == "float_step":
        return d.FloatDistribution(p["min"], p["max"], step=p["step"])
    if k == "int":
        return d.IntDistribution(p["min"], p["max"])
    if k == "int_step":
        return d.IntDistribution(p["min"], p["max"], step=p["step"])
    if k == "int_log":
        return d.IntDistribution(p["min"], p["max"], log=True)
    return d.CategoricalDistribution(p["values"])


def case(seed):
    rng = random.Random(seed)
    multivariate = rng.random() < 0.5
    params = [make_param(rng, f"p{i}") for i in range(rng.randint(1, 3) if multivariate else 1)]
    space = {p["name"]: distribution(p) for p in params}
    for p in params:  # the bounds as Optuna keeps them
        if p["kind"] != "choice":
            p["min"], p["max"] = space[p["name"]].low, space[p["name"]].high
    n = rng.choice([0, 1, 2, 3, 5, 8, 13, 24, 25, 26, 30, 40])
    sampler = np.random.RandomState(seed)
    observations = {}
    for p in params:
        dist = space[p["name"]]
        values = []
        for _ in range(n):
            # Duplicates on purpose now and then (equal centres).
            if values and rng.random() < 0.15:
                values.append(rng.choice(values))
                continue
            if isinstance(dist, d.CategoricalDistribution):
                values.append(rng.randrange(len(p["values"])))
            elif isinstance(dist, d.IntDistribution):
                values.append(rng.randrange(dist.low, dist.high + 1, dist.step if not dist.log else 1))
            elif dist.step is not None:
                values.append(dist.low + dist.step * rng.randint(0, round((dist.high - dist.low) / dist.step)))
            elif dist.log:
                values.append(float(np.exp(rng.uniform(np.log(dist.low), np.log(dist.high)))))
            else:
                values.append(rng.uniform(dist.low, dist.high))
        observations[p["name"]] = values
    settings = {"prior_weight": rng.choice([1.0, 1.0, 0.5, 2.0]),
                "consider_endpoints": rng.random() < 0.3, "multivariate": multivariate}
    parameters = _ParzenEstimatorParameters(
        consider_prior=True, prior_weight=settings["prior_weight"], consider_magic_clip=True,
        consider_endpoints=settings["consider_endpoints"], weights=default_weights,
        multivariate=multivariate)
    est = _ParzenEstimator({k: np.asarray(v, dtype=float) for k, v in observations.items()},
                           space, parameters)
    samples = est.sample(sampler, 12)
    optuna_parzen.truncnorm.logpdf = _logpdf_with_scale
    try:
        log_pdf = est.log_pdf(samples)
    finally:
        optuna_parzen.truncnorm.logpdf = _unscaled_logpdf
    out = {"seed": seed, "params": params, "observations": observations, **settings,
           "weights": est._weights.tolist(), "kernels": {}, "samples": [], "log_pdf": []}
    for p in params:
        name = p["name"]
        if p["kind"] == "choice":
            out["kernels"][name] = {"probabilities": est._categorical_weights[name].tolist()}
        else:
            out["kernels"][name] = {"mus": est._mus[name].tolist(), "sigmas": est._sigmas[name].tolist()}
    for i in range(12):
        out["samples"].append({p["name"]: (int(samples[p["name"]][i]) if p["kind"] in ("choice", "int", "int_step", "int_log")
                                           else float(samples[p["name"]][i])) for p in params})
        out["log_pdf"].append(float(log_pdf[i]))
    return out


def main():
    cases = [case(seed) for seed in range(400)]
    with open(sys.argv[1], "w") as f:
        json.dump({"optuna": optuna.__version__, "cases": cases}, f)
    print(f"parzen_parity: {len(cases)} estimators from Optuna {optuna.__version__}")


if __name__ == "__main__":
    main()
