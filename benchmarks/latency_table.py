"""`python -m benchmarks.latency_table`: how well the latency table predicts measured latency.

For each space and input shape (default the shipped `mbv2` and `resnet` spaces at 3x32x32) and each
backend (onnxruntime, torch), builds the space's latency table (`kdnas.cost.latency_table`), samples
`--students` random students (Optuna's RandomSampler, `--seed`) and measures each one whole through
`kdnas.cost.measure_latency`, batch 1, `--threads` threads. Reports per (space, backend): the mean
absolute percentage error of the table's prediction against the measurement, the share within
+-10%, Spearman's rho, the mean signed error, the seconds to build the table against the seconds to
measure every student, and which blocks the table gets wrong: a least-squares fit of the residual
(measured - predicted, in microseconds) on how many stages of each block type a student has.

Resumable: every table part is cached by the table itself (under `--cache`), and every student's
measurement as one JSON file beside them, so a killed run measures only what is missing. Writes
`latency-table.{json,md}` with the command, the CPU and the threads.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.command import command_line, run
from benchmarks.latency_backends import _shape, _spearman, sample_students
from benchmarks.machine import generated_by, machine_info, write_result
from kdnas.arch import Arch, Stage
from kdnas.catalog import find_space
from kdnas.claims import obtain
from kdnas.cost import LatencySpec, measure_latency
from kdnas.cost.latency_table import (TABLE_MIN_REPEATS, LatencyTable, build_latency_table, missing_parts,
                                     setting)
from kdnas.errors import UserError
from kdnas.space import open_space
from kdnas.space.builder import build_student

BACKENDS = ("onnxruntime", "torch")
NUM_CLASSES = 10
WITHIN = 0.10  # the band: a prediction within +-10% of the measurement


def block_type(stage: Stage) -> str:
    """What the error breakdown groups a stage by: op, kernel and (where it means something) expansion."""
    if stage.op == "skip":
        return "skip"
    return f"{stage.op}_k{stage.kernel}" + (f"_e{stage.expand}" if stage.op in ("ir", "bneck") else "")


def measured(arch: str, shape: tuple[int, int, int], spec: LatencySpec, cache: Path,
             cached_only: bool = False) -> dict | None:
    """One student's measured latency, from the cache or measured now (and cached); with
    `cached_only`, None for a student not measured yet."""
    name = hashlib.sha256(f"{arch}|{shape}|{spec.warmup}|{spec.repeats}".encode()).hexdigest()[:20]
    # keyed by the setting without the table's version: a new way of building the table keeps these
    where = {k: v for k, v in setting(spec).items() if k not in ("version", "repeats")}
    path = cache / "students" / hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()[:16] / f"{name}.json"

    def make() -> dict:
        t0 = time.perf_counter()
        lat = measure_latency(build_student(Arch.from_str(arch), shape[0], NUM_CLASSES).eval(), shape, spec)
        return {"arch": arch, "ms": lat.median_ms, "p90_ms": lat.p90_ms, "wall_s": time.perf_counter() - t0}

    if cached_only and not path.is_file():
        return None
    rec, _ = obtain(path, make)  # type: ignore[misc]
    return rec


def breakdown(archs: list[Arch], residual_us: np.ndarray) -> list[dict]:
    """Least-squares residual per stage of each block type (microseconds a student's measurement is
    above the table's prediction per such stage), with a constant; the types the table gets wrong
    stand out as large coefficients."""
    types = sorted({block_type(s) for a in archs for s in a.stages} - {"skip"})
    x = np.array([[sum(block_type(s) == t for s in a.stages) for t in types] + [1.0] for a in archs], dtype=float)
    coef, *_ = np.linalg.lstsq(x, residual_us, rcond=None)
    counts = x[:, :-1].sum(axis=0)
    rows = [{"type": t, "stages": int(n), "residual_us_per_stage": float(c)} for t, n, c in zip(types, counts, coef)]
    rows.sort(key=lambda r: -abs(r["residual_us_per_stage"]))
    return rows + [{"type": "constant", "stages": len(archs), "residual_us_per_stage": float(coef[-1])}]


def evaluate(space_ref: str, shape: tuple[int, int, int], backend: str, archs: list[str], a: argparse.Namespace,
             cache: Path) -> dict | None:
    """The table of one space, shape and backend against every student measured whole (with
    `--cached-only`, those measured already; None when its table is not complete)."""
    space = open_space(find_space(space_ref))
    spec = LatencySpec(backend=backend, device="cpu", batch_size=1, threads=a.threads, warmup=a.warmup,
                       repeats=a.repeats)
    if a.cached_only and missing_parts(space, shape, NUM_CLASSES, spec, cache=cache / "parts"):
        return None
    table: LatencyTable = build_latency_table(space, shape, NUM_CLASSES, spec, cache=cache / "parts", verbose=True)
    rows = []
    for arch in archs:
        rec = measured(arch, shape, spec, cache, a.cached_only)
        if rec is None:
            continue
        pred = table.predict(Arch.from_str(arch))
        rows.append({"arch": arch, "measured_ms": rec["ms"], "table_ms": pred, "error": pred / rec["ms"] - 1.0,
                     "wall_s": rec["wall_s"]})
    if not rows:
        return None
    err = np.array([r["error"] for r in rows])
    meas = [r["measured_ms"] for r in rows]
    residual_us = np.array([(r["measured_ms"] - r["table_ms"]) * 1e3 for r in rows])
    summary = {
        "students": len(rows), "mape_pct": float(np.mean(np.abs(err)) * 100),
        "within_10_pct": float(np.mean(np.abs(err) <= WITHIN) * 100), "mean_signed_error_pct": float(err.mean() * 100),
        "worst_error_pct": float(err[np.argmax(np.abs(err))] * 100),
        "spearman": _spearman([r["table_ms"] for r in rows], meas),
        "measured_median_ms": statistics.median(meas), "overhead_ms": table.overhead_ms,
        "table_parts": table.measured + table.cached + table.by_others, "table_timed_s": table.timed_s,
        "measure_all_s": float(sum(r["wall_s"] for r in rows)),
    }
    note_table = {"setting": table.setting, "key": table.key}
    return {"space": space_ref, "input_shape": list(shape), "backend": backend, "summary": summary,
            "breakdown": breakdown([Arch.from_str(r["arch"]) for r in rows], residual_us), "table": note_table,
            "students": rows}


def _markdown(result: dict) -> str:
    m, s = result["machine"], result["settings"]
    lines = ["# Latency table: predicted against measured latency", "",
             *generated_by(result["date"], result["command"]),
             f"{s['students']} random students per space (seed {s['seed']}), untrained, batch 1, {s['threads']} "
             f"thread(s), CPU `{m['cpu_model']}` (nproc {m['nproc']}). Each student measured whole through "
             f"`kdnas.cost.measure_latency` ({s['warmup']} warm-up, {s['repeats']} timed passes, the median); its "
             "prediction is the sum of its entries in the space's latency table plus the measured session overhead "
             "(each entry: `prefix + stage` minus `prefix`, timed with at least "
             f"{', '.join(f'{n} passes on {b}' for b, n in s['table_min_repeats'].items())}; see docs/latency.md).", "",
             "| space | input | backend | students | MAPE | within +-10% | Spearman | mean signed error | worst | median measured ms "
             "| table build s (parts) | measure every student s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        x = r["summary"]
        lines.append(f"| {r['space']} | {'x'.join(map(str, r['input_shape']))} | {r['backend']} | {x['students']} | "
                     f"{x['mape_pct']:.1f}% | "
                     f"{x['within_10_pct']:.0f}% | {x['spearman']:.3f} | {x['mean_signed_error_pct']:+.1f}% | "
                     f"{x['worst_error_pct']:+.0f}% | {x['measured_median_ms']:.3f} | {x['table_timed_s']:.0f} "
                     f"({x['table_parts']}) | {x['measure_all_s']:.0f} |")
    lines += ["", "Targets (issue 29): >= 95% within +-10% and Spearman >= 0.95 against ONNX Runtime.", "",
              "## Which blocks the table gets wrong", "",
              "Least-squares residual (measured - predicted) per stage of each block type, in microseconds, "
              "with a constant; positive: the table predicts too little.", ""]
    for r in result["runs"]:
        top = ", ".join(f"{b['type']} {b['residual_us_per_stage']:+.1f} ({b['stages']})" for b in r["breakdown"][:6])
        lines.append(f"- {r['space']} {'x'.join(map(str, r['input_shape']))} {r['backend']}: {top}")
    lines += ["", f"- Python {m['python']}, torch {m['torch']}, onnxruntime {result['onnxruntime']}, {m['platform']}",
              f"- load average at start: {m['loadavg_at_start']}", "- per-student figures: the .json beside this file", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency_table", description=__doc__.split("\n\n")[0])
    p.add_argument("--spaces", nargs="+", default=["mbv2@3x32x32", "resnet@3x32x32"],
                   help="SPACE@CxHxW pairs: a shipped block space (or a path) and an input shape")
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--cache", default="runs/cache/benchmarks/latency-table", help="resumable cache of every measurement")
    p.add_argument("--cached-only", action="store_true",
                   help="measure nothing: report the tables and students already in the cache (a run cut short)")
    p.add_argument("--out-dir", default="reports/benchmarks")
    return p


def _pair(text: str) -> tuple[str, tuple[int, int, int]]:
    space, sep, shape = text.partition("@")
    if not sep:
        raise UserError(f"--spaces takes SPACE@CxHxW (mbv2@3x32x32), got '{text}'")
    return space, _shape(shape)


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, build the tables, measure the students, write and print the Markdown result."""
    import onnxruntime

    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    pairs = [_pair(t) for t in a.spaces]
    machine = machine_info()  # before the run: its load average is the machine's, not ours
    cache = Path(a.cache)
    runs = []
    for space_ref, shape in pairs:
        archs = sample_students(space_ref, a.students, a.seed)
        runs += [r for backend in a.backends if (r := evaluate(space_ref, shape, backend, archs, a, cache))]
    result = {"benchmark": "latency-table", "command": command_line("benchmarks.latency_table", argv),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "onnxruntime": onnxruntime.__version__,
              "settings": {"spaces": a.spaces, "students": a.students, "seed": a.seed, "threads": a.threads,
                           "warmup": a.warmup, "repeats": a.repeats, "backends": a.backends,
                           "table_min_repeats": TABLE_MIN_REPEATS},
              "runs": runs}
    write_result(a.out_dir, "latency-table", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
