"""`python -m benchmarks.fidelity_compare A.json B.json`: two fidelity runs, the architectures they share.

The ground truth of a fidelity run is itself one noisy training run per architecture. Where two
runs trained the same architecture under the same recipe and seed (say with another thread count,
or before and after a change to the proxies), their ground truths should agree; how well they rank
the shared architectures alike is the ceiling any proxy can reach against one of them. The shared
proxies are compared too (say kd@50 before and after a change to how it is scored).
Writes `reports/benchmarks/<name>.md` and `.json`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

import numpy as np

from benchmarks.command import command_line, run
from benchmarks.ground_truth import load_result
from benchmarks.machine import generated_by, write_result
from benchmarks.ranking import rank
from kdnas.errors import UserError


def compare(a: dict, b: dict) -> dict:
    """What the two runs `a` and `b` measured on the architectures both of them trained."""
    rows_b = {r["arch"]: r for r in b["panel"]}
    shared = [(r, rows_b[r["arch"]]) for r in a["panel"] if r["arch"] in rows_b]
    gt_a = np.array([ra["gt"]["acc"] for ra, _ in shared])
    gt_b = np.array([rb["gt"]["acc"] for _, rb in shared])
    diff = gt_b - gt_a
    out: dict = {
        "shared": len(shared),
        "same_recipe": a["ground_truth"]["recipe"] == b["ground_truth"]["recipe"],
        "same_teacher": a["teacher"]["sha256"] == b["teacher"]["sha256"],
        "rows": [{"arch": ra["arch"], "macs": ra["macs"], "gt_a": ra["gt"]["acc"], "gt_b": rb["gt"]["acc"]}
                 for ra, rb in shared],
        "gt": {**rank(gt_a, gt_b), "mean_abs_diff": float(np.abs(diff).mean()) if len(diff) else float("nan"),
               "max_abs_diff": float(np.abs(diff).max()) if len(diff) else float("nan"),
               "spread_a": float(np.ptp(gt_a)) if len(gt_a) else float("nan")},
        "proxies": {},
    }
    mean_gt = (gt_a + gt_b) / 2
    for name in a["proxies"]:
        if name not in b["proxies"] or not shared:
            continue
        pa = np.array([ra[name]["score"] for ra, _ in shared], dtype=float)
        pb = np.array([rb[name]["score"] for _, rb in shared], dtype=float)
        out["proxies"][name] = {"a_vs_gt_a": rank(pa, gt_a)["tau"], "b_vs_gt_b": rank(pb, gt_b)["tau"],
                                "a_vs_mean_gt": rank(pa, mean_gt)["tau"], "b_vs_mean_gt": rank(pb, mean_gt)["tau"]}
    return out


def _seeds(r: dict) -> str:
    """The ground-truth seeds of a fidelity result (several: its ground truth is their mean)."""
    g = r["ground_truth"]
    return "+".join(map(str, g.get("seeds", [g.get("seed", "?")])))


def _markdown(c: dict, a: dict, b: dict, command: str, date: str) -> str:
    g = c["gt"]
    lines = ["# Two fidelity runs compared on the architectures both trained", "", *generated_by(date, command),
             f"- A: {a['data']['describe']}; {a['date']}; `{a['command']}`",
             f"- B: {b['data']['describe']}; {b['date']}; `{b['command']}`",
             f"- same ground-truth recipe: {c['same_recipe']}; same teacher: {c['same_teacher']}; ground-truth seeds: "
             f"A {_seeds(a)}, B {_seeds(b)}; torch threads: "
             f"A {a['machine']['torch_threads']}, B {b['machine']['torch_threads']}", "",
             f"**{c['shared']} architectures in both.** Ground truth A against B: Kendall tau {g['tau']:.3f}, "
             f"Spearman rho {g['rho']:.3f}; mean |difference| {100 * g['mean_abs_diff']:.2f} points, largest "
             f"{100 * g['max_abs_diff']:.2f}, against a spread of {100 * g['spread_a']:.2f} points in A.", "",
             "| arch | MACs | GT A | GT B | B - A |", "|---|---:|---:|---:|---:|"]
    for r in c["rows"]:
        lines.append(f"| `{r['arch']}` | {r['macs'] / 1e6:.2f} M | {r['gt_a']:.4f} | {r['gt_b']:.4f} | "
                     f"{100 * (r['gt_b'] - r['gt_a']):+.2f} |")
    few = (f" With only {c['shared']} architectures a tau moves by {4 / (c['shared'] * (c['shared'] - 1)):.2f} for "
           "each pair ranked the other way: read these as anecdotes, not measurements." if c["shared"] < 8 else "")
    lines += ["", "Kendall tau of each proxy shared by both runs, on these architectures." + few, "",
              "| proxy | A vs GT A | B vs GT B | A vs mean GT | B vs mean GT |", "|---|---:|---:|---:|---:|"]
    for name, p in c["proxies"].items():
        lines.append(f"| {name} | {p['a_vs_gt_a']:.3f} | {p['b_vs_gt_b']:.3f} | {p['a_vs_mean_gt']:.3f} | "
                     f"{p['b_vs_mean_gt']:.3f} |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: compare two fidelity JSON files and write the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks.fidelity_compare", description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--name", default="fidelity-compare", help="report file stem")
    p.add_argument("--out-dir", type=Path, default=Path("reports/benchmarks"))
    args = p.parse_args(argv)
    a, b = load_result(args.a), load_result(args.b)
    c = compare(a, b)
    if not c["shared"]:
        raise UserError(f"{args.a} and {args.b} share no architecture")
    command = command_line("benchmarks.fidelity_compare", argv)
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_result(args.out_dir, args.name, {"command": command, "date": date, **c}, _markdown(c, a, b, command, date))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
