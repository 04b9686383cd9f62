"""`python -m benchmarks.latency_table`: how well the latency table predicts measured latency.

For each space and input shape (default the shipped `mbv2` and `resnet` spaces at 3x32x32) and each
backend (onnxruntime, torch), builds the space's latency table (`kdnas.cost.latency_table`), samples
`--students` random students (Optuna's RandomSampler, `--seed`) and measures each one whole through
`kdnas.cost.measure_latency`, batch 1, `--threads` threads, `--sessions` times (the median: one timing
of a small model moves by several percent from one session to the next, which would cap any
prediction's agreement). Reports per (space, backend): the mean
absolute percentage error of the table's prediction against the measurement, the share within
+-10%, Spearman's rho, the mean signed error, the seconds to build the table against the seconds to
measure every student, and which blocks the table gets wrong: a least-squares fit of the residual
(measured - predicted, in microseconds) on how many stages of each block type a student has.
With `--separate`, the same table built the way table v3 built it, each model timed on its own and
each entry the difference of two separate timings, is reported beside it: the two ways side by side
against the same measurements, in one run; `--builds N` builds each N times over, alternating, so
that the difference between the ways can be read against the difference between two builds.

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
from kdnas.cost.latency_table import (TABLE_MIN_REPEATS, LatencyTable, _plan, _Timed, assemble, build_latency_table,
                                     missing_parts, setting, setting_key, table_spec)
from kdnas.errors import UserError
from kdnas.space import SearchSpace, open_space
from kdnas.space.builder import build_student

BACKENDS = ("onnxruntime", "torch")
NUM_CLASSES = 10
WITHIN = 0.10  # the band: a prediction within +-10% of the measurement


def block_type(stage: Stage) -> str:
    """What the error breakdown groups a stage by: op, kernel and (where it means something) expansion."""
    if stage.op == "skip":
        return "skip"
    return f"{stage.op}_k{stage.kernel}" + (f"_e{stage.expand}" if stage.op in ("ir", "bneck") else "")


def measured(arch: str, shape: tuple[int, int, int], spec: LatencySpec, cache: Path, sessions: int = 1,
             cached_only: bool = False) -> dict | None:
    """One student's measured latency (the median over `sessions` timings, each in its own session),
    from the cache or measured now (and cached); with `cached_only`, None for a student not measured yet."""
    name = hashlib.sha256(f"{arch}|{shape}|{spec.warmup}|{spec.repeats}|{sessions}".encode()).hexdigest()[:20]
    # keyed by the setting without the table's version: a new way of building the table keeps these
    where = {k: v for k, v in setting(spec).items() if k not in ("version", "repeats")}
    path = cache / "students" / hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()[:16] / f"{name}.json"

    def make() -> dict:
        t0 = time.perf_counter()
        model = build_student(Arch.from_str(arch), shape[0], NUM_CLASSES).eval()
        times = [measure_latency(model, shape, spec).median_ms for _ in range(sessions)]
        return {"arch": arch, "ms": statistics.median(times), "sessions_ms": times, "wall_s": time.perf_counter() - t0}

    if cached_only and not path.is_file():
        return None
    rec, _ = obtain(path, make)  # type: ignore[misc]
    return rec


def separate_table(space: SearchSpace, shape: tuple[int, int, int], spec: LatencySpec, cache: Path) -> LatencyTable:
    """The table as v3 built it, for comparison: every model of the plan timed on its own (each once,
    in the plan's order, cached under `cache`), each entry the difference of its two timings."""
    spec_t = table_spec(spec)
    folder = cache / setting_key(spec)
    plan = _plan(space, shape, NUM_CLASSES)
    table = LatencyTable(f"separate-{setting_key(spec)}", shape, setting(spec), stages=[{} for _ in space.stages])
    ms: dict[str, float] = {}

    def alone(t: _Timed) -> float:
        if t.name not in ms:
            def make() -> dict:
                t0 = time.perf_counter()
                lat = measure_latency(t.build().eval(), t.shape, spec_t)
                return {"name": t.name, "ms": lat.median_ms, "timed_s": time.perf_counter() - t0}
            rec, made = obtain(folder / f"{t.name}.json", make)  # type: ignore[misc]
            ms[t.name] = float(rec["ms"])
            table.timed_s += float(rec["timed_s"])
            table.measured += int(made)
            table.cached += int(not made)
        return ms[t.name]

    assemble(table, plan, lambda t: alone(t) - (alone(t.minus) if t.minus else 0.0))
    return table


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
             cache: Path) -> list[dict]:
    """The table of one space, shape and backend against every student measured whole (with
    `--cached-only`, those measured already; nothing when its table is not complete), and with
    `--separate` the separately timed table against the same measurements."""
    space = open_space(find_space(space_ref))
    spec = LatencySpec(backend=backend, device="cpu", batch_size=1, threads=a.threads, warmup=a.warmup,
                       repeats=a.repeats)
    if a.cached_only and missing_parts(space, shape, NUM_CLASSES, spec, cache=cache / "parts"):
        return []
    tables = {}
    for i in range(a.builds):  # build i > 0 times its own copy: how much two builds differ, beside the two ways
        n = f" #{i + 1}" if a.builds > 1 else ""
        tables[f"interleaved{n}"] = build_latency_table(space, shape, NUM_CLASSES, spec, verbose=True,
                                                        cache=cache / ("parts" + (f"-{i + 1}" if i else "")))
        if a.separate:
            tables[f"separate{n}"] = separate_table(space, shape, spec, cache / ("separate" + (f"-{i + 1}" if i else "")))
    recs = [r for arch in archs if (r := measured(arch, shape, spec, cache, a.sessions, a.cached_only))]
    if not recs:
        return []
    return [_versus(space_ref, shape, backend, how, table, recs) for how, table in tables.items()]


def _versus(space_ref: str, shape: tuple[int, int, int], backend: str, how: str, table: LatencyTable,
            recs: list[dict]) -> dict:
    """One table's predictions against the students' measurements: the summary, the breakdown, every row."""
    rows = []
    for rec in recs:
        pred = table.predict(Arch.from_str(rec["arch"]))
        rows.append({"arch": rec["arch"], "measured_ms": rec["ms"], "table_ms": pred, "error": pred / rec["ms"] - 1.0,
                     "wall_s": rec["wall_s"]})
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
    sessions = [r["sessions_ms"] for r in recs if len(r.get("sessions_ms", [])) > 1]
    if sessions:  # how far one timing of a student is from the reference (the median of its timings)
        off = np.array([t / statistics.median(ts) - 1 for ts in sessions for t in ts])
        summary["one_timing_within_10_pct"] = float(np.mean(np.abs(off) <= WITHIN) * 100)
    note_table = {"setting": table.setting, "key": table.key}
    return {"space": space_ref, "input_shape": list(shape), "backend": backend, "table_timing": how,
            "summary": summary, "breakdown": breakdown([Arch.from_str(r["arch"]) for r in rows], residual_us),
            "table": note_table, "students": rows}


def _markdown(result: dict) -> str:
    m, s = result["machine"], result["settings"]
    lines = ["# Latency table: predicted against measured latency", "",
             *generated_by(result["date"], result["command"]),
             f"{s['students']} random students per space (seed {s['seed']}), untrained, batch 1, {s['threads']} "
             f"thread(s), CPU `{m['cpu_model']}` (nproc {m['nproc']}). Each student measured whole through "
             f"`kdnas.cost.measure_latency` ({s['warmup']} warm-up, {s['repeats']} timed passes, the median), "
             f"{s.get('sessions', 1)} time(s) in separate sessions, the median of those; its "
             "prediction is the sum of its entries in the space's latency table plus the measured session overhead "
             "(each entry: how much longer `prefix + stage` takes than `prefix`, timed with at least "
             f"{', '.join(f'{n} passes on {b}' for b, n in s['table_min_repeats'].items())}; see docs/latency.md). "
             "Table timing `interleaved`: the two models of each entry timed together in alternating blocks (the "
             "table kdnas builds); `separate`: each model timed on its own, one after the other (table v3's way). "
             "One timing within 10%: the share of single timings of a student within +-10% of its reference, the "
             "ceiling the measurement's own noise puts on any prediction.", "",
             "| space | input | backend | table timing | students | MAPE | within +-10% | Spearman | mean signed error "
             "| worst | median measured ms | table build s (parts) | measure every student s | one timing within 10% |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["runs"]:
        x = r["summary"]
        one = x.get("one_timing_within_10_pct")
        lines.append(f"| {r['space']} | {'x'.join(map(str, r['input_shape']))} | {r['backend']} | "
                     f"{r.get('table_timing', 'separate')} | {x['students']} | "
                     f"{x['mape_pct']:.1f}% | "
                     f"{x['within_10_pct']:.0f}% | {x['spearman']:.3f} | {x['mean_signed_error_pct']:+.1f}% | "
                     f"{x['worst_error_pct']:+.0f}% | {x['measured_median_ms']:.3f} | {x['table_timed_s']:.0f} "
                     f"({x['table_parts']}) | {x['measure_all_s']:.0f} | {'-' if one is None else f'{one:.0f}%'} |")
    lines += ["", "Targets (issue 29): >= 95% within +-10% and Spearman >= 0.95 against ONNX Runtime.", "",
              "## Which blocks the table gets wrong", "",
              "Least-squares residual (measured - predicted) per stage of each block type, in microseconds, "
              "with a constant; positive: the table predicts too little.", ""]
    for r in result["runs"]:
        top = ", ".join(f"{b['type']} {b['residual_us_per_stage']:+.1f} ({b['stages']})" for b in r["breakdown"][:6])
        lines.append(f"- {r['space']} {'x'.join(map(str, r['input_shape']))} {r['backend']} "
                     f"{r.get('table_timing', 'separate')}: {top}")
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
    p.add_argument("--sessions", type=int, default=3, help="timings of each student, each in its own session (the median)")
    p.add_argument("--separate", action="store_true",
                   help="also build the table with each model timed on its own (table v3's way), for comparison")
    p.add_argument("--builds", type=int, default=1, help="build each table this many times over (the two ways "
                   "alternating with --separate), each from its own cache: the build-to-build spread")
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
        runs += [r for backend in a.backends for r in evaluate(space_ref, shape, backend, archs, a, cache)]
    result = {"benchmark": "latency-table", "command": command_line("benchmarks.latency_table", argv),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "onnxruntime": onnxruntime.__version__,
              "settings": {"spaces": a.spaces, "students": a.students, "seed": a.seed, "threads": a.threads,
                           "warmup": a.warmup, "repeats": a.repeats, "sessions": a.sessions, "backends": a.backends,
                           "separate": a.separate, "builds": a.builds,
                           "table_min_repeats": TABLE_MIN_REPEATS},
              "runs": runs}
    write_result(a.out_dir, "latency-table", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
