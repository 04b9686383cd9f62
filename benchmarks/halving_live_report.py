"""The Markdown report of `python -m benchmarks.halving_live` (reports/benchmarks/halving-live.md)."""

from __future__ import annotations

import statistics

from benchmarks.machine import generated_by

FULL_EVALUATION = (
    "both fronts are already fronts of whole proxy runs, so no further evaluation was needed: every trial of the "
    "plain loop trains its student for the whole proxy run, and the halving front is read from the top rung's "
    "trials only, whose students continued their own runs to the same step count (the same run a plain trial "
    "would have had: `tests/distill/test_rungs.py` checks that rungs give bit-identical weights and scores to a "
    "straight run). A student halving left below the top rung is on neither front.")


def _hv(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _rungs(side: dict, key: str) -> str:
    return " / ".join(str(side[key][str(r)]) for r in side["rungs"])


def _side_row(name: str, s: dict) -> str:
    hv = f"**{_hv(s['hypervolume'])}**"
    best = "n/a" if s["best_val_acc"] is None else f"{100 * s['best_val_acc']:.2f} %"
    return (f"| {name} | {hv} | {len(s['front'])} | {best} | {s['students_sampled']} | "
            f"{'/'.join(map(str, s['rungs']))} | {_rungs(s, 'trained_per_rung')} | {s['student_steps']} | "
            f"{s['failed']} | {s['infeasible']} | {s['duplicates']} | {s['search_span_s']:.0f} |")


def _pair_section(p: dict, minutes: float) -> list[str]:
    sides = p["sides"]
    lines = [f"### Seed {p['seed']}", "",
             f"Started {p['started']}; load average (1, 5, 15 min) {p['loadavg_before']} before, "
             f"{p['loadavg_after']} after; MAC scale {p['macs_scale']:.4g}.", "",
             "| strategy | hypervolume | front | best accuracy (top rung) | students sampled | rungs (steps) | "
             "trained per rung | student-steps | failed | infeasible | duplicates | searching s |",
             "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    lines += [_side_row(s, sides[s]) for s in sides]
    fracs = list(next(iter(sides.values()))["hypervolume_over_time"])
    lines += ["", "Hypervolume of the results finished by a fraction of the time budget "
              f"({minutes:g} min, counted from each search's first trial; the trials still running at the end "
              "of it finish after it, and only the table above counts them):", "",
              "| strategy | " + " | ".join(f"{100 * float(f):.0f} %" for f in fracs) + " | at the end |",
              "|---|" + "---:|" * (len(fracs) + 1)]
    for name, s in sides.items():
        lines.append(f"| {name} | " + " | ".join(_hv(s["hypervolume_over_time"][f]) for f in fracs)
                     + f" | {_hv(s['hypervolume'])} |")
    lines += ["", "Searching: from the first trial's start to the last result (the processes' wall times, with "
              "start-up, are in the JSON)."]
    for name, s in sides.items():
        pr, first = s["promotions"], s["trained_per_rung"][str(s["rungs"][0])]
        if pr["n"]:
            lines.append(f"\n{name}: {pr['n']} promotions from {first} students trained at the first rung "
                         f"({100 * pr['n'] / max(first, 1):.0f} %; a synchronous rung would promote 1/eta); "
                         f"{pr['follow_the_rule']} of them promotable by the rule on the results finished when each "
                         f"started, {pr['of_the_newest_result']} of the student whose result had just come in")
        for r in s["rung_tau"]:
            tau = r["kendall_tau"]
            lines.append(f"\n{name}: rung {r['lower']} -> {r['upper']} steps: Kendall τ "
                         f"{'n/a' if tau != tau else f'{tau:.3f}'} over the {r['n']} student{'s' * (r['n'] != 1)} "
                         "evaluated at both (the promoted ones)")
    lines += ["", "Fronts (accuracy at the whole proxy run, MACs), cheapest first:", ""]
    for name, s in sides.items():
        members = "; ".join(f"{100 * m['val_acc']:.1f} % at {m['macs'] / 1e6:.2f} M" for m in s["front"])
        lines.append(f"- {name}: {members or 'none'}")
    return lines + [""]


def markdown(r: dict) -> str:
    """The report: settings, each seed's pair, the halving/plain ratio of hypervolumes, the machine."""
    st, m = r["settings"], r["machine"]
    pairs = r["pairs"]
    ratios = [p["sides"]["halving"]["hypervolume"] / p["sides"]["plain"]["hypervolume"] for p in pairs
              if p["sides"]["plain"]["hypervolume"] and p["sides"]["halving"]["hypervolume"] is not None]
    lines = ["# Successive halving against the plain loop, live, at equal wall time", "",
             *generated_by(r["date"], r["command"]),
             f"- Two `kdnas search` processes per seed, started together and run side by side, one torch thread each, "
             f"each with its own runs folder and SQLite storage; both stop starting students after "
             f"`budget.time_minutes` = {st['minutes']:g} (running trials finish), `budget.trials` = {st['trials']} "
             "is out of reach.",
             f"- Their study files differ only in `search`: `plain`, or `halving` with `min_steps` {st['min_steps']}, "
             f"`eta` {st['eta']}. Shared: {st['data']} ({st['train_subset']} training / {st['val_subset']} validation "
             f"images), the resnet20 teacher `{st['teacher'].rsplit('/', 1)[-1]}`, space `{st['space']}` under "
             f"`max_macs` {st['max_macs']:,}, proxy `kd` of {st['steps']} steps (kdnas's defaults otherwise: AdamW, "
             f"`tse_late` score), sampler `{st['sampler']}`, objectives (score, MACs), seed as below.",
             "- Hypervolume as `kdnas report` computes it: (-validation accuracy, MACs / scale) against (0, 1) over "
             "the feasible students trained for the whole proxy run (halving: the top rung), with one scale for both "
             "studies of a seed (their `max_macs`).",
             f"- Full evaluation of the front members: {FULL_EVALUATION}", ""]
    if ratios:
        lines += [f"**Halving / plain hypervolume: {', '.join(f'{x:.3f}' for x in ratios)} "
                  f"(seed{'s' * (len(ratios) > 1)} {', '.join(str(p['seed']) for p in pairs)})"
                  + (f"; median {statistics.median(ratios):.3f}" if len(ratios) > 1 else "") + ".**", ""]
    lines += ["## Each seed", ""]
    for p in pairs:
        lines += _pair_section(p, st["minutes"])
    lines += ["## Machine", "",
              f"{m['cpu_model']}; {m['nproc']} usable CPUs; torch {m['torch']}, Python {m['python']}; load average "
              f"at the report's start {m['loadavg_at_start']}. The machine is shared: the searches' speed depends on "
              "what else ran, which is why the two sides of a pair run at the same moment.", ""]
    return "\n".join(lines)
