"""`python -m benchmarks.latency_blockwise`: a block-wise study with `max_latency_ms`, its front's
measured latencies against the limit.

For each case, the demo's block-wise study (`studies/demo-digits-blockwise.yaml`: resnet20 teacher,
the `mbv2` space, a million students scored from the block table) runs with `objectives: [score,
latency]`, `latency.mode: table_then_measure` (ONNX Runtime, batch 1, one thread) and a
`max_latency_ms` set where it binds: the `--percentile`th percentile of the latency table's
prediction among `--pool` random students within the study's MAC limit. The block-wise search keeps
the students the table puts within the limit, times each pick whole before it is trained and
re-picks in place of one measured over it. Reported per case: students scored, feasible by the
table, re-picks (and how far over the limit those picks measured), and every front member's table
and measured latency against the limit, with a second, independent measurement of each (the
margin timing noise leaves).

Cases: `digits` is the demo as it is (1x8x8 images, where whole students take tens of microseconds
and the table under-predicts); `cifar10` is the same study on CIFAR-10 images at 3x32x32 (the input
the latency table is benchmarked at, `benchmarks.latency_table`), from the shared JPEG copy
(`--cifar-root`), with a smaller training budget (the teacher, the block table and the confirmation
are not what is measured here) and the MAC limit scaled by the 16 times as many pixels.

Resumable: each case's runs folder under `--runs` holds its teacher, block table, latency table and
study; a run cut short continues where it stopped, and a finished case is read back, not run again.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.command import command_line, run
from benchmarks.machine import generated_by, machine_info, write_result
from kdnas.errors import UserError
from kdnas.study.config import StudyConfig, config_from_dict

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "studies" / "demo-digits-blockwise.yaml"
CIFAR_ROOT = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg"  # ../shared beside the checkout
NUM_CLASSES = 10
TARGET_SCORED = 100_000  # the issue: at least 10^5 students scored against the table


def case_config(study: Path, case: str, cifar_root: Path) -> dict[str, Any]:
    """The study file (the demo's by default) as a dict, changed for `case` (the latency settings
    are added by `run_case`)."""
    cfg = yaml.safe_load(study.read_text())
    if case == "digits":
        return cfg
    if case != "cifar10":
        raise UserError(f"unknown case '{case}' (digits or cifar10)")
    if not cifar_root.is_dir():
        raise UserError(f"--cifar-root {cifar_root} is not a folder (the CIFAR-10 JPEG tree: train/, test/)")
    cfg["data"] = {"name": "image_folder", "root": str(cifar_root), "val_fraction": 0.1, "test_fraction": 0.1,
                   "max_train": 4000, "max_val": 500, "max_test": 500, "seed": 0, "download": False}
    cfg["teacher_training"].update({"epochs": 8, "crop_pad": 4})
    bw = cfg["proxy"]["blockwise"]
    bw.update({"steps": 30, "max_samples": 512})
    bw["advanced"]["val_samples"] = 256
    cfg["proxy"]["steps"] = 150
    cfg["constraints"]["max_macs"] = "9600K"  # the demo's 600K times 16: 3x32x32 has 16 times the pixels of 8x8
    return cfg


def latency_limit(cfg: StudyConfig, input_shape: tuple[int, int, int], percentile: float, pool: int,
                  seed: int) -> tuple[float, dict]:
    """The `percentile`th percentile of the table's predicted latency among `pool` random students of
    the study's space within its MAC limit, and figures about that pool."""
    from kdnas.blockwise.costs import CostTable
    from kdnas.blockwise.plan import stage_choices
    from kdnas.cost.latency_table import build_latency_table
    from kdnas.space import open_space

    space = open_space(cfg.space)
    table = build_latency_table(space, input_shape, NUM_CLASSES, cfg.latency, verbose=True)
    choices = tuple(tuple(c) for c in stage_choices(space))
    costs = CostTable(space, choices, input_shape, NUM_CLASSES, latency=table)
    sizes = [len(space.stem), *map(len, choices), len(space.head)]
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, s, pool) for s in sizes], axis=1)
    macs, _ = costs(codes)
    lat = costs.latency_ms(codes)
    max_macs = cfg.constraints.max_macs
    ok = macs <= max_macs if max_macs is not None else np.ones(len(macs), bool)
    limit = float(np.percentile(lat[ok], percentile))
    return limit, {"pool": pool, "pool_within_macs": int(ok.sum()), "predicted_min_ms": float(lat[ok].min()),
                   "predicted_median_ms": float(np.median(lat[ok])), "table_parts": table.measured + table.cached}


def run_case(case: str, a: argparse.Namespace) -> dict:
    """Run (or resume, or read back) one case's study; return its figures."""
    from kdnas.arch import Arch
    from kdnas.cost import measure_latency
    from kdnas.execute import make_executor
    from kdnas.space.builder import build_student
    from kdnas.study import records as R
    from kdnas.study.blockwise import STUDY_BLOCKWISE
    from kdnas.study.front import front_trials
    from kdnas.study.runner import run_search
    from kdnas.study.setup import prepare
    from kdnas.study.storage import load_existing

    runs = Path(a.runs).resolve() / case
    runs.mkdir(parents=True, exist_ok=True)
    os.environ["KDNAS_RUNS"] = str(runs)  # teacher, tables and the study stay in the case's folder
    study = Path(a.study).resolve()
    cfg = case_config(study, case, Path(a.cifar_root))
    cfg["objectives"] = ["score", "latency"]
    cfg["latency"] = {"mode": "table_then_measure", "backend": a.backend, "device": "cpu", "batch_size": 1,
                      "threads": 1, "warmup": a.warmup, "repeats": a.repeats}
    cfg["storage"] = f"sqlite:///{runs / 'study.db'}"
    shape = (1, 8, 8) if case == "digits" else (3, 32, 32)
    limit, pool = latency_limit(config_from_dict(cfg, f"{case} case", study.parent), shape, a.percentile, a.pool,
                                a.seed)
    limit = round(limit, 5)  # as the study stores it
    cfg.setdefault("constraints", {})["max_latency_ms"] = limit
    # a table timed anew (another machine state, another table version) sets another limit: another study
    cfg["name"] = f"latency-blockwise-{case}-p{a.percentile:g}-{limit:g}ms"
    study_cfg = config_from_dict(cfg, f"{case} case", study.parent)
    setup = prepare(study_cfg, verbose=True)
    if setup.data.input_shape != shape:
        raise UserError(f"{case}: the data's input is {setup.data.input_shape}, not {shape}")
    summary = run_search(setup, make_executor(study_cfg.executor), progress=False)
    study = load_existing(study_cfg.storage_url, study_cfg.name)
    figures = json.loads(study.user_attrs[STUDY_BLOCKWISE])
    front = {t.number for t in front_trials(study)}
    trained = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        u = t.user_attrs
        if u.get(R.STATUS) != R.STATUS_OK:
            continue
        model = build_student(Arch.from_str(u[R.ARCH]), shape[0], NUM_CLASSES).eval()
        again = measure_latency(model, shape, study_cfg.latency).median_ms  # independent of the one that decided
        trained.append({"trial": t.number, "arch": u[R.ARCH], "front": t.number in front, "macs": u[R.MACS],
                        "val_acc": u[R.VAL_ACC], "table_ms": u.get(R.LATENCY_TABLE_MS), "measured_ms": u[R.LATENCY_MS],
                        "remeasured_ms": again, "source": u.get(R.LATENCY_SOURCE)})
    return {"case": case, "input_shape": list(shape), "limit_ms": limit, "limit_pool": pool,
            "teacher_val_acc": setup.teacher_info.get("val_acc"), "trained_total": summary.trained,
            "blockwise": figures, "trained": trained, "summary": _summary(limit, figures, trained)}


def _summary(limit: float, figures: dict, trained: list[dict]) -> dict:
    """What the case shows: the front against the limit, by the deciding and by a second measurement."""
    front = [r for r in trained if r["front"]]
    over = [100 * (r["remeasured_ms"] / limit - 1) for r in front if r["remeasured_ms"] > limit]
    refused = [r["latency_over_pct"] for r in figures.get("refused", []) if r.get("latency_over_pct") is not None]
    under = [r["measured_ms"] / r["table_ms"] - 1 for r in trained if r["table_ms"]]
    return {
        "scored": figures["students_scored"], "feasible_by_table": figures["students_feasible"],
        "picked": figures["picked"], "repicks": figures.get("repicks", 0), "front": len(front),
        "front_within_limit": sum(r["measured_ms"] <= limit for r in front),
        "front_within_limit_remeasured": sum(r["remeasured_ms"] <= limit for r in front),
        "front_over_remeasured_pct": over,
        "refused_over_median_pct": statistics.median(refused) if refused else None,
        "refused_over_max_pct": max(refused) if refused else None,
        "trained_measured_over_table_median_pct": 100 * statistics.median(under) if under else None,
        "scored_target_met": figures["students_scored"] >= TARGET_SCORED,
    }


def _markdown(result: dict) -> str:
    m = result["machine"]
    st = result["settings"]
    lines = ["# Block-wise search with a latency limit: the front measured against it", "",
             *generated_by(result["date"], result["command"]),
             f"The block-wise study `{Path(st['study']).name}` (`mbv2` in the demo, resnet20 teacher) with "
             f"`objectives: [score, latency]`, `latency.mode: table_then_measure` ({st['backend']}, CPU, batch 1, one "
             f"thread, median of {st['repeats']}) and `max_latency_ms` at the {st['percentile']:g}th percentile of the "
             f"table's prediction among {st['pool']:,} random students within the MAC limit. Each pick is timed whole "
             "before it is trained; one measured over the limit is re-picked. Re-measured: every trained student "
             f"timed again after the search (the noise margin). CPU `{m['cpu_model']}` (nproc {m['nproc']}), load "
             f"average at start {m['loadavg_at_start']}.", "",
             "| case | input | limit ms | scored | feasible by table | re-picks (over limit by, median / max) | "
             "front | front within limit (deciding / re-measured) | trained: measured vs table, median |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for c in result["cases"]:
        s = c["summary"]
        rep = (f"{s['repicks']} ({s['refused_over_median_pct']:+.0f}% / {s['refused_over_max_pct']:+.0f}%)"
               if s["refused_over_median_pct"] is not None else f"{s['repicks']}")
        gap = s["trained_measured_over_table_median_pct"]
        lines.append(f"| {c['case']} | {'x'.join(map(str, c['input_shape']))} | {c['limit_ms']:.4f} | "
                     f"{s['scored']:,} | {s['feasible_by_table']:,} | {rep} | {s['front']} | "
                     f"{s['front_within_limit']}/{s['front']} / {s['front_within_limit_remeasured']}/{s['front']} | "
                     + (f"{gap:+.0f}% |" if gap is not None else "n/a |"))
    for c in result["cases"]:
        lines += ["", f"## {c['case']} ({'x'.join(map(str, c['input_shape']))}): the students trained", "",
                  f"Teacher val accuracy {100 * (c['teacher_val_acc'] or 0):.1f}%; limit {c['limit_ms']:.4f} ms.", "",
                  "| trial | front | MACs | table ms | measured ms (decided) | re-measured ms | KD proxy val % |",
                  "|---:|:---:|---:|---:|---:|---:|---:|"]
        for r in c["trained"]:
            lines.append(f"| {r['trial']} | {'yes' if r['front'] else ''} | {r['macs']:,} | {r['table_ms']:.4f} | "
                         f"{r['measured_ms']:.4f} | {r['remeasured_ms']:.4f} | {100 * r['val_acc']:.1f} |")
    lines += ["", f"- Python {m['python']}, torch {m['torch']}, onnxruntime {result['onnxruntime']}, {m['platform']}",
              "- refused picks (architecture, reason): the .json beside this file", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency_blockwise", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["digits", "cifar10"], choices=["digits", "cifar10"])
    p.add_argument("--study", default=str(DEMO), help="the block-wise study file the cases start from")
    p.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "torch"], help="latency backend")
    p.add_argument("--warmup", type=int, default=5, help="untimed passes before each student is timed")
    p.add_argument("--repeats", type=int, default=20, help="timed passes per student (the median)")
    p.add_argument("--percentile", type=float, default=30.0, help="where the latency limit is set (see above)")
    p.add_argument("--pool", type=int, default=100_000, help="random students the limit is set from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cifar-root", default=str(CIFAR_ROOT), help="the CIFAR-10 JPEG tree (train/, test/)")
    p.add_argument("--runs", default="runs/benchmarks/latency-blockwise", help="resumable runs folder, one per case")
    p.add_argument("--out-dir", default="reports/benchmarks")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run (or resume) each case, write and print the Markdown result."""
    import onnxruntime

    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    machine = machine_info()
    prev = os.environ.get("KDNAS_RUNS")
    try:
        cases = [run_case(case, a) for case in a.cases]
    finally:
        if prev is None:
            os.environ.pop("KDNAS_RUNS", None)
        else:
            os.environ["KDNAS_RUNS"] = prev
    result = {"benchmark": "latency-blockwise", "command": command_line("benchmarks.latency_blockwise", argv),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "onnxruntime": onnxruntime.__version__,
              "settings": {"cases": a.cases, "study": a.study, "backend": a.backend, "percentile": a.percentile,
                           "pool": a.pool, "seed": a.seed, "warmup": a.warmup, "repeats": a.repeats},
              "cases": cases}
    write_result(a.out_dir, "latency-blockwise", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
