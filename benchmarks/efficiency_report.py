"""The search-efficiency report: replays summarised over seeds, the targets judged, a figure, Markdown.

Hypervolume against student-steps: each strategy's median and interquartile range over its seeds at
25, 50 and 100% of the budget (the plain loop's `trials` whole proxy runs); the student-steps halving
needs to reach the plain loop's final hypervolume; the samplers against random at the budget; and how
alike consecutive rungs rank the table (Kendall tau), the bound on what a promotion can know.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.efficiency_replay import Table, Trace
from benchmarks.machine import generated_by
from benchmarks.ranking import rank

FRACTIONS = (0.25, 0.5, 1.0)
GRID = 101  # points of each stored curve, evenly spaced over the budget
HALVING_TARGET = 1 / 3  # halving reaches the plain loop's final hypervolume within this share of its steps
SAMPLER_TARGET = 0.10  # TPE or NSGA-II above random at the budget, relative


def _stats(values: list[float]) -> dict[str, float]:
    q25, med, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75)}


def rung_agreement(table: Table) -> list[dict]:
    """Kendall tau and Spearman rho between the table's rungs (each pair of consecutive rungs, and the
    first against the top), on the accuracy and on the score the replays ranked by."""
    archs = list(table.macs)
    n = len(table.rungs)
    pairs = [(i, i + 1) for i in range(n - 1)] + ([(0, n - 1)] if n > 2 else [])
    out = []
    for i, j in pairs:
        acc = rank(np.array([table.acc[a][i] for a in archs]), np.array([table.acc[a][j] for a in archs]))
        score = rank(np.array([table.score[a][i] for a in archs]), np.array([table.score[a][j] for a in archs]))
        out.append({"from": table.rungs[i], "to": table.rungs[j], "tau_acc": acc["tau"], "rho_acc": acc["rho"],
                    "tau_score": score["tau"], "rho_score": score["rho"]})
    return out


def summarise(table: Table, traces: dict[str, list[Trace]], budget: int) -> dict:
    """Every strategy's hypervolume over seeds at the budget's fractions, its curve, and the targets."""
    grid = np.linspace(0, budget, GRID)
    strategies = {}
    for name, runs in traces.items():
        curves = [[t.at(s) for s in grid] for t in runs]
        strategies[name] = {
            "at": {f"{int(100 * f)}%": _stats([t.at(f * budget) for t in runs]) for f in FRACTIONS},
            "curve_median": [float(v) for v in np.median(curves, axis=0)],
            "curve_q25": [float(v) for v in np.percentile(curves, 25, axis=0)],
            "curve_q75": [float(v) for v in np.percentile(curves, 75, axis=0)],
            "trained_top": _stats([t.trained[-1] for t in runs]),
            # distinct students trained at any rung: how much of the space the strategy looked at
            "trained_any": _stats([t.samples - t.duplicates for t in runs]),
            "samples": _stats([t.samples for t in runs]), "duplicates": _stats([t.duplicates for t in runs]),
            "promotions": _stats([t.promotions for t in runs]),
            "stopped_by": sorted({t.stopped_by for t in runs}),
            "final": [t.at(budget) for t in runs],
        }
    halving = []
    for name in traces:
        if not name.startswith("halving+") or name.removeprefix("halving+") not in traces:
            continue
        plain = name.removeprefix("halving+")
        target = strategies[plain]["at"]["100%"]["median"]
        reach = [t.reach(target) for t in traces[name]]
        med = float(np.median(reach))
        halving.append({"strategy": name, "plain": plain, "plain_final_median": target,
                        "steps_to_reach": reach, "median_steps": med, "share_of_budget": med / budget,
                        "met": med <= HALVING_TARGET * budget})
    samplers = []
    if "random" in strategies:
        base = strategies["random"]["at"]["100%"]["median"]
        for name in ("tpe", "nsga2"):
            if name in strategies:
                gain = strategies[name]["at"]["100%"]["median"] / base - 1 if base > 0 else math.nan
                samplers.append({"sampler": name, "median": strategies[name]["at"]["100%"]["median"],
                                 "random_median": base, "gain": gain, "met": gain >= SAMPLER_TARGET})
    return {"grid_steps": [float(s) for s in grid], "strategies": strategies, "halving": halving,
            "samplers": samplers, "best_hypervolume": table.best_hypervolume(), "front_size": len(table.front()),
            "rung_agreement": rung_agreement(table)}


def figure(result: dict, path: Path) -> None:
    """Hypervolume against student-steps: each strategy's median line and interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summary"]
    x = np.asarray(s["grid_steps"])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    samplers = list(dict.fromkeys(n.removeprefix("halving+") for n in s["strategies"]))
    for name, st in s["strategies"].items():  # one colour per sampler: solid under halving, dashed plain
        style = "-" if name.startswith("halving+") else "--"
        colour = f"C{samplers.index(name.removeprefix('halving+'))}"
        ax.plot(x, st["curve_median"], style, lw=1.8, label=name, color=colour)
        ax.fill_between(x, st["curve_q25"], st["curve_q75"], color=colour, alpha=0.12, lw=0)
    ax.axvline(HALVING_TARGET * x[-1], color="grey", lw=0.8, ls=":", label="1/3 of the budget")
    ax.axhline(s["best_hypervolume"], color="k", lw=0.8, ls=":", label="whole table's front")
    ax.set_xlabel(f"student-steps spent (budget: {result['trials']} whole proxy runs)")
    ax.set_ylabel("hypervolume (accuracy x MACs)")
    lo = min(min(st["curve_median"][len(x) // 10:]) for st in s["strategies"].values())
    ax.set_ylim(max(0.0, lo - 0.02), s["best_hypervolume"] + 0.01)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _iqr(st: dict) -> str:
    return f"{st['median']:.4f} [{st['q25']:.4f}, {st['q75']:.4f}]"


def markdown(result: dict, stem: str) -> str:
    """The report page of a replay `result`."""
    s, t = result["summary"], result["table"]
    budget = result["budget_steps"]
    lines = ["# Search efficiency: hypervolume against student-steps", "", *generated_by(result["date"], result["command"]),
             f"- table: `{result['table_path']}`, built by `{t['command']}` ({t['jobs']} processes, "
             f"{t['machine']['cpu_model']}, {t['machine']['torch_threads']} torch thread(s) each; its students' training "
             f"and scoring took {t['student_seconds']:.0f} s in all as each was trained, the last invocation "
             f"{t['wall_s']:.0f} s of wall time): {t['size']} students of "
             f"`{t['space']}` (every one), {t['data']['describe']}, teacher {t['teacher']['name']} "
             f"(sha256 {t['teacher']['sha256'][:12]}, `{t['teacher']['checkpoint']}`), proxy {t['proxy']['method']} "
             f"{t['proxy']['optimizer']} lr {t['proxy']['lr']:g} batch {t['proxy']['batch_size']}, the schedule's horizon "
             f"the top rung, each student trained once and scored at rungs {', '.join(map(str, t['rungs']))} steps",
             f"- replays: {result['seeds']} seeds per strategy; budget {result['trials']} whole proxy runs = {budget} "
             f"student-steps; samplers ranked by `{result['score']}`, objectives (score, MACs); halving eta "
             f"{result['eta']} over rungs {', '.join(map(str, result.get('halving_rungs', t['rungs'])))}, promotion rule "
             "`kdnas.study.halving.promotable`",
             f"- hypervolume as `kdnas report` computes it: (-accuracy, MACs / {result['hv_scale']:.4g}) against "
             "(0, 1), over the students trained to the top rung, with their top-rung validation accuracy; the "
             f"whole table's front ({s['front_size']} students) reaches {s['best_hypervolume']:.4f}", "",
             "## Hypervolume at 25 / 50 / 100% of the budget (median [IQR] over seeds)", "",
             f"| strategy | 25% | 50% | 100% | students trained (of {t['size']}) | at the top rung | samples | duplicates "
             "| promotions |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for name, st in s["strategies"].items():
        lines.append(f"| {name} | {_iqr(st['at']['25%'])} | {_iqr(st['at']['50%'])} | {_iqr(st['at']['100%'])} | "
                     f"{st['trained_any']['median']:.0f} | {st['trained_top']['median']:.0f} | "
                     f"{st['samples']['median']:.0f} | "
                     f"{st['duplicates']['median']:.0f} | {st['promotions']['median']:.0f} |")
    lines += ["", f"![hypervolume against student-steps]({stem}.png)", "", "## Targets", ""]
    for h in s["halving"]:
        lines.append(f"- {h['strategy']} reaches {h['plain']}'s final hypervolume ({h['plain_final_median']:.4f}, "
                     f"median) with <= 1/3 of its student-steps: median {h['median_steps']:.0f} steps = "
                     f"{100 * h['share_of_budget']:.0f}% of {budget}: **{'met' if h['met'] else 'NOT met'}** "
                     f"(per seed: {', '.join('never' if math.isinf(v) else f'{v:.0f}' for v in h['steps_to_reach'])})")
    for g in s["samplers"]:
        lines.append(f"- {g['sampler']} beats random by >= 10% at {result['trials']} trials: {g['median']:.4f} against "
                     f"{g['random_median']:.4f} ({100 * g['gain']:+.1f}%): **{'met' if g['met'] else 'NOT met'}**")
    lines += ["", "## How alike the rungs rank the table", "",
              f"Kendall tau and Spearman rho over all {t['size']} students, on the validation accuracy and on the "
              f"replays' score (`{result['score']}`).", "",
              "| rungs | tau (accuracy) | rho (accuracy) | tau (score) | rho (score) |", "|---|---:|---:|---:|---:|"]
    for r in s["rung_agreement"]:
        lines.append(f"| {r['from']} -> {r['to']} | {r['tau_acc']:.3f} | {r['rho_acc']:.3f} | {r['tau_score']:.3f} | "
                     f"{r['rho_score']:.3f} |")
    m = result["machine"]
    lines += ["", "## Machine", "", f"- replay: {m['cpu_model']}; nproc {m['nproc']}; {result['wall_s']:.0f} s",
              f"- torch {m['torch']}, Python {m['python']}", "",
              f"Every curve (median and quartiles on {GRID} points) and every seed's final hypervolume are in `{stem}.json`.", ""]
    return "\n".join(lines)
