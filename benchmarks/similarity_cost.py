"""`bench_similarity`: what the similarity proxy costs per student next to the default `kd` proxy, and
how its ranking agrees with the `kd` proxy's, on the demo (`studies/demo-digits.yaml`) or `--study`.

The same students (a seeded random sample of the study's space under its constraints) are scored by
the study's `kd` proxy and by `proxy.method: similarity` at initialisation (k = 0) under each
measure, each through the trial's own code path (`kdnas.execute.task.evaluate`) with the seed a
trial of that number gets. Seconds are each evaluation's wall time; Kendall tau and Spearman rho
compare each similarity's ranking with the `kd` proxy's score (and, for reference, MACs' and
params'). The `kd` proxy is not the ground truth: this says whether the cheap proxy orders students
as the default one does, not which ranks full training better (that is the fidelity benchmark's).
Run ``python -m benchmarks.similarity_cost --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import optuna

import kdnas
from benchmarks.command import command_line, run
from benchmarks.machine import machine_info, write_result
from benchmarks.ranking import rank
from kdnas.errors import UserError
from kdnas.execute.task import TrialTask, evaluate
from kdnas.study.config import config_from_dict
from kdnas.study.setup import SearchSetup, prepare
from kdnas.yamlio import read_yaml

DEMO = Path(kdnas.__file__).resolve().parent / "studies" / "demo-digits.yaml"
MEASURES = ("cka", "rsa", "diswot")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sample_students(setup: SearchSetup, n: int, seed: int) -> list[str]:
    """`n` distinct students of the study's space under its constraints, drawn by a seeded random sampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out: list[str] = []
    for _ in range(100 * n):
        arch = str(setup.space.suggest(sampler.ask()))
        if arch not in out and setup.costs(arch).reason(setup.cfg.constraints) is None:
            out.append(arch)
        if len(out) == n:
            return out
    raise RuntimeError(f"the space gave only {len(out)} feasible students of {n}")


def _setups(study: Path, threads: int, probe_size: int) -> tuple[SearchSetup, SearchSetup]:
    """The study as written (its proxy: the baseline) and the same study with the similarity proxy."""
    raw = read_yaml(study)
    if raw.get("proxy", {}).get("method", "kd") != "kd":
        raise UserError(f"{study}: the baseline is the study's own proxy, which must be method kd")
    raw["proxy"]["threads"] = threads
    kd = prepare(config_from_dict(raw, str(study), study.parent), verbose=False)
    sim_raw = {**raw, "proxy": {"method": "similarity", "threads": threads,
                                "similarity": {"probe_size": probe_size}}}
    return kd, prepare(config_from_dict(sim_raw, str(study), study.parent), verbose=False)


def bench_similarity(study: Path, n_students: int, seed: int, threads: int, probe_size: int, out_dir: Path,
                     command: str) -> dict:
    """Score `n_students` students of `study` by its `kd` proxy and by each similarity measure; write the reports."""
    started = _dt.datetime.now(_dt.timezone.utc)
    kd_setup, sim_setup = _setups(study, threads, probe_size)
    students = sample_students(kd_setup, n_students, seed)
    _log(f"{len(students)} students; kd proxy: {kd_setup.cfg.proxy.steps} steps")
    rows = []
    for i, arch in enumerate(students):
        task = TrialTask(i, arch, kd_setup.cfg.seed + i)  # the seed the search gives trial i
        costs = kd_setup.costs(arch)
        kd = evaluate(task, kd_setup.ctx)
        if not kd.ok:
            raise RuntimeError(f"kd proxy failed on {arch}: {kd.reason}")
        row = {"arch": arch, "macs": costs.macs, "params": costs.params,
               "kd": {"score": kd.score, "val_acc": kd.val_acc, "wall_s": kd.wall_s}}
        for m in MEASURES:
            spec = sim_setup.ctx.spec.model_copy(
                update={"similarity": sim_setup.ctx.spec.similarity.model_copy(update={"measure": m})})
            out = evaluate(task, dataclasses.replace(sim_setup.ctx, spec=spec))
            if not out.ok:
                raise RuntimeError(f"similarity {m} failed on {arch}: {out.reason}")
            row[m] = {"score": out.score, "wall_s": out.wall_s, "similarity_s": out.metrics["similarity_s"]}
        rows.append(row)
        _log(f"{i + 1}/{len(students)} kd {kd.wall_s:.2f} s, " + ", ".join(f"{m} {row[m]['wall_s']:.3f} s" for m in MEASURES))
    kd_scores = np.array([r["kd"]["score"] for r in rows])
    kd_wall = statistics.median(r["kd"]["wall_s"] for r in rows)
    summary = {"kd": {"median_wall_s": kd_wall}}
    for m in MEASURES:
        wall = statistics.median(r[m]["wall_s"] for r in rows)
        summary[m] = {"median_wall_s": wall, "kd_over_this": kd_wall / wall,
                      **rank(np.array([r[m]["score"] for r in rows]), kd_scores)}
    # costs as zero-cost references: fewer MACs ranked against the kd score (the sign as a proxy would use it)
    for c in ("macs", "params"):
        summary[f"{c} (more is better)"] = rank(np.array([float(r[c]) for r in rows]), kd_scores)
    result = {
        "benchmark": "similarity-cost", "command": command, "date": started.isoformat(timespec="seconds"),
        "wall_s": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(), "machine": machine_info(),
        "study": _shown(study), "kd_proxy": kd_setup.cfg.proxy.model_dump(mode="json"),
        "similarity": sim_setup.cfg.proxy.similarity.model_dump(mode="json"),
        "probe": list(sim_setup.ctx.probe.indices) if sim_setup.ctx.probe else [],
        "data": kd_setup.data.describe(), "teacher_val_acc": kd_setup.teacher_info["val_acc"],
        "seed": seed, "threads": threads, "summary": summary, "students": rows,
    }
    write_result(out_dir, "similarity-cost", result, markdown(result), echo=False)
    return result


def _shown(path: Path) -> str:
    """The study's path relative to the checkout where it lies in it (the shipped demo does)."""
    root = DEMO.parents[2]
    return str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)


def markdown(r: dict) -> str:
    """The report page of a `bench_similarity` result."""
    s = r["summary"]
    lines = [
        "# Similarity proxy: cost per student and agreement with the kd proxy", "",
        f"Generated {r['date']} by:", "", "```", r["command"], "```", "",
        f"On `{r['study']}` ({r['data']}; teacher val accuracy {r['teacher_val_acc']:.4f}): {len(r['students'])} "
        f"students drawn at random (seed {r['seed']}) under the study's constraints, each scored by its `kd` "
        f"proxy ({r['kd_proxy']['steps']} steps of batch {r['kd_proxy']['batch_size']}, `advanced.score` "
        f"{r['kd_proxy']['advanced']['score']}) and by `proxy.method: similarity` at initialisation (k = 0, probe of "
        f"{r['similarity']['probe_size']} training images) under each measure, through the trial's code "
        f"(`kdnas.execute.task.evaluate`), {r['threads']} torch thread(s). Seconds: median wall time of one "
        "evaluation (the student built, run and scored). The kd proxy is not a ground truth: τ says whether "
        "the similarity orders the students as the default proxy does.", "",
        "| proxy | median s per student | kd / this | Kendall τ vs kd score | Spearman ρ vs kd score |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| kd (default) | {s['kd']['median_wall_s']:.3f} | 1 | - | - |",
    ]
    for m in MEASURES:
        lines.append(f"| similarity, {m} | {s[m]['median_wall_s']:.4f} | {s[m]['kd_over_this']:.0f}× | "
                     f"{s[m]['tau']:.3f} | {s[m]['rho']:.3f} |")
    for c in ("macs", "params"):
        k = f"{c} (more is better)"
        lines.append(f"| {c} (zero cost, more is better) | - | - | {s[k]['tau']:.3f} | {s[k]['rho']:.3f} |")
    lines += ["", "| student | MACs | kd score | kd val acc | cka | rsa | diswot |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for st in r["students"]:
        lines.append(f"| `{st['arch']}` | {st['macs']:,} | {st['kd']['score']:.4f} | {st['kd']['val_acc']:.4f} | "
                     + " | ".join(f"{st[m]['score']:.4f}" for m in MEASURES) + " |")
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in r["machine"].items()) + ".", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.similarity_cost", description=__doc__.splitlines()[0])
    p.add_argument("--study", type=Path, default=DEMO, help="a study file with a kd proxy (default: the digits demo)")
    p.add_argument("--students", type=int, default=20, help="students drawn from the study's space (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the students' draw (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every evaluation (default 1)")
    p.add_argument("--probe-size", type=int, default=256, help="proxy.similarity.probe_size (default 256)")
    p.add_argument("--out-dir", type=Path, default=Path("reports/benchmarks"))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = _parser().parse_args(argv)
    bench_similarity(a.study, a.students, a.seed, a.threads, a.probe_size, a.out_dir,
                     command_line("benchmarks.similarity_cost", argv))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
