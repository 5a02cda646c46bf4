"""Tables (markdown) and a best-so-far plot (SVG) from bench/search_quality.py's JSON."""
import json
import math
import statistics
import sys
from collections import defaultdict

PEERS = ["optuna-random", "optuna-tpe", "optuna-tpe-mv", "optuna-cmaes"]
OURS = ["ours-random", "ours-tpe", "ours-tpe-univariate", "ours-gp"]


def load(path):
    with open(path) as f:
        return json.load(f)


def final(run, at=None):
    best = run["best"]
    return best[min(len(best), at) - 1] if at else best[-1]


def table(results, parallel, at=None):
    by = defaultdict(dict)  # (problem) -> sampler -> [best per seed]
    for run in results["runs"]:
        if run["parallel"] != parallel:
            continue
        if at and len(run["best"]) < at:
            continue
        by[run["problem"]].setdefault(run["sampler"], {})[run["seed"]] = final(run, at)
    return by


def fmt(v):
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def report(args):
    results = load(args.results)
    lines = []
    samplers_all = [s for s in OURS + PEERS
                    if any(r["sampler"] == s for r in results["runs"])]
    for parallel in sorted({r["parallel"] for r in results["runs"]}):
        for at in sorted({None, 50} if results["trials"] > 50 else {None}, key=lambda v: v or 1e9):
            by = table(results, parallel, at)
            n_trials = at or results["trials"]
            lines.append(f"### {parallel} worker{'s' if parallel > 1 else ''}, "
                         f"best after {n_trials} trials, {results['seeds']} seeds (mean / median; lower is better)\n")
            lines.append("| problem | " + " | ".join(samplers_all) + " |")
            lines.append("|---|" + "---|" * len(samplers_all))
            ranks = defaultdict(list)
            for problem, cols in by.items():
                row = [problem]
                for s in samplers_all:
                    vals = list(cols.get(s, {}).values())
                    row.append(f"{fmt(statistics.mean(vals))} / {fmt(statistics.median(vals))}"
                               if vals else "-")
                lines.append("| " + " | ".join(row) + " |")
                seeds = set.intersection(*[set(c) for c in cols.values()])
                for seed in seeds:
                    present = [s for s in samplers_all if s in cols]
                    order = sorted(present, key=lambda s: cols[s][seed])
                    for s in present:
                        value = cols[s][seed]
                        tied = [t for t in present if cols[t][seed] == value]
                        first = min(order.index(t) for t in tied) + 1
                        ranks[s].append(first + (len(tied) - 1) / 2)
            lines.append("| mean rank | " + " | ".join(
                f"{statistics.mean(ranks[s]):.2f}" if ranks[s] else "-" for s in samplers_all) + " |")
            lines.append("")
            # wins of each of ours against each peer, seed by seed
            ours = [s for s in OURS if s in samplers_all]
            peers = [s for s in samplers_all if s not in OURS]
            lines.append("Wins (seeds where ours is strictly better / ties / losses), all problems:\n")
            lines.append("| ours \\ peer | " + " | ".join(peers) + " |")
            lines.append("|---|" + "---|" * len(peers))
            for o in ours:
                cells = []
                for p in peers:
                    w = t = l = 0
                    for problem, cols in by.items():
                        if o not in cols or p not in cols:
                            continue
                        for seed in set(cols[o]) & set(cols[p]):
                            a, b = cols[o][seed], cols[p][seed]
                            w += a < b
                            t += a == b
                            l += a > b
                    cells.append(f"{w} / {t} / {l}")
                lines.append(f"| {o} | " + " | ".join(cells) + " |")
            lines.append("")
    lines.extend(goals(results))
    text = "\n".join(lines)
    print(text)
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg(results))


def mean_final(results, problem, sampler, parallel, at=None):
    vals = [final(r, at) for r in results["runs"]
            if r["problem"] == problem and r["sampler"] == sampler and r["parallel"] == parallel
            and (not at or len(r["best"]) >= at)]
    return statistics.mean(vals) if vals else None


def goals(results):
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from search_quality import MAIN_TEN, PROBLEMS
    out = ["### Goals (issue 11)\n"]
    problems = sorted({r["problem"] for r in results["runs"]})
    worse = [p for p in problems
             if None not in (mean_final(results, p, "ours-tpe", 1), mean_final(results, p, "ours-random", 1))
             and mean_final(results, p, "ours-tpe", 1) >= mean_final(results, p, "ours-random", 1)]
    out.append(f"- our TPE better than our random on every problem (1 worker): "
               f"{'yes' if not worse else 'no, not on ' + ', '.join(worse)}")
    for peer in ["optuna-tpe", "optuna-tpe-mv"]:
        ge = [p for p in MAIN_TEN if p in problems
              and None not in (mean_final(results, p, "ours-tpe", 1), mean_final(results, p, peer, 1))
              and mean_final(results, p, "ours-tpe", 1) <= mean_final(results, p, peer, 1)]
        n = len([p for p in MAIN_TEN if p in problems])
        out.append(f"- our TPE >= {peer} (mean best, 1 worker): {len(ge)} of {n} "
                   f"(goal: 8 of 10); not on: {', '.join(p for p in MAIN_TEN if p in problems and p not in ge) or '-'}")
    gp_at = 50
    gp_rows = []
    for p in ["branin", "hartmann3", "hartmann6", "rosenbrock4"]:
        if p not in problems:
            continue
        g = mean_final(results, p, "ours-gp", 1, gp_at)
        rivals = [mean_final(results, p, s, 1, gp_at) for s in ["ours-tpe", "optuna-tpe", "optuna-tpe-mv"]]
        rivals = [v for v in rivals if v is not None]
        if g is None or not rivals:
            continue
        gp_rows.append(f"{p} {'yes' if g < min(rivals) else 'no'} (gp {fmt(g)}, best TPE {fmt(min(rivals))})")
    out.append(f"- GP better than every TPE at {gp_at} trials: " + "; ".join(gp_rows))
    par = []
    for p in problems:
        optimum = PROBLEMS[p][2]
        s1 = mean_final(results, p, "ours-tpe", 1)
        s8 = mean_final(results, p, "ours-tpe", 8)
        if s1 is None or s8 is None:
            continue
        if optimum is None:
            optimum = min(final(r) for r in results["runs"] if r["problem"] == p)
        r1, r8 = s1 - optimum, s8 - optimum
        par.append((p, r1, r8))
    if par:
        within = [p for p, r1, r8 in par if r8 <= 1.1 * r1 + 1e-12]
        out.append(f"- TPE + constant liar, 8 workers within 10 % of its 1-worker regret: "
                   f"{len(within)} of {len(par)} problems; " + "; ".join(
                       f"{p} {fmt(r8)} vs {fmt(r1)}" for p, r1, r8 in par))
        t1 = sum(r1 for _, r1, _ in par)
        out.append("")
    out.append(f"\nLoad average at start: {results.get('load', 0):.2f}. Seconds per sampler: " +
               ", ".join(f"{k} {v:.0f}" for k, v in sorted(results.get("seconds", {}).items())))
    return out


def svg(results):
    """Mean best-so-far (normalised regret, log scale) against trials, 1 worker, per sampler,
    averaged over problems."""
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from search_quality import PROBLEMS
    colors = {"ours-random": "#999999", "ours-tpe": "#d62728", "ours-tpe-univariate": "#ff9896",
              "ours-gp": "#9467bd", "optuna-random": "#7f7f7f", "optuna-tpe": "#1f77b4",
              "optuna-tpe-mv": "#aec7e8", "optuna-cmaes": "#2ca02c"}
    problems = sorted({r["problem"] for r in results["runs"] if r["parallel"] == 1})
    # per problem: scale = median of the random samplers' first value - optimum
    curves = defaultdict(list)
    for p in problems:
        runs = [r for r in results["runs"] if r["problem"] == p and r["parallel"] == 1]
        optimum = PROBLEMS[p][2]
        if optimum is None:
            optimum = min(min(r["best"]) for r in runs)
        scale = statistics.median(r["best"][0] - optimum for r in runs) or 1.0
        by_sampler = defaultdict(list)
        for r in runs:
            by_sampler[r["sampler"]].append([(v - optimum) / scale for v in r["best"]])
        for s, rs in by_sampler.items():
            n = min(len(x) for x in rs)
            curves[s].append([statistics.mean(x[i] for x in rs) for i in range(n)])
    w, h, left, top, bottom, right = 720, 420, 60, 30, 40, 170
    pw, ph = w - left - right, h - top - bottom
    lo, hi = -1.5, 0.25
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18">Mean normalised regret (log10) vs trials, 1 worker, {len(problems)} problems x {results["seeds"]} seeds</text>']
    for k in [-1.5, -1.0, -0.5, 0.0]:
        y = top + ph * (hi - k) / (hi - lo)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{10 ** k:.3g}</text>')
    for t in range(0, results["trials"] + 1, 20):
        x = left + pw * t / results["trials"]
        out.append(f'<text x="{x:.1f}" y="{h - 20}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 4}" text-anchor="middle">trials</text>')
    for i, (s, cs) in enumerate(sorted(curves.items())):
        n = min(len(c) for c in cs)
        mean = [statistics.mean(c[j] for c in cs) for j in range(n)]
        pts = []
        for j, v in enumerate(mean):
            lv = math.log10(max(v, 10 ** lo))
            pts.append(f"{left + pw * (j + 1) / results['trials']:.1f},{top + ph * (hi - min(lv, hi)) / (hi - lo):.1f}")
        dash = ' stroke-dasharray="5,3"' if s.startswith("optuna") else ""
        out.append(f'<polyline fill="none" stroke="{colors.get(s, "#000")}" stroke-width="2"{dash} points="{" ".join(pts)}"/>')
        y = top + 16 * i
        out.append(f'<line x1="{w - right + 10}" x2="{w - right + 34}" y1="{y}" y2="{y}" stroke="{colors.get(s, "#000")}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{w - right + 40}" y="{y + 4}">{s}</text>')
    out.append("</svg>")
    return "\n".join(out)
