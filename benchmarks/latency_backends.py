"""`python -m benchmarks.latency_backends`: PyTorch eager against ONNX Runtime latency of random students.

Samples `--students` random students of a shipped space (default `mbv2`, Optuna's RandomSampler with
`--seed`), and for each input shape (default 1x8x8, the digits, and 3x32x32) measures every student
with both `latency.backend`s through `kdnas.cost.measure_latency`: batch 1, `--threads` threads,
`--warmup` untimed and `--repeats` timed passes, the median per student. The backend measured first
alternates from one student to the next, so neither always runs on a warmer cache. Reports the
medians over the students, the ratio torch / onnxruntime per student, and how well each backend's
ranking agrees with the other's and with MACs (Spearman). Writes `latency-backends.{json,md}` with
the command, the CPU and the threads. Run ``python -m benchmarks.latency_backends --help``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import sys
import time

import numpy as np
import optuna

from benchmarks.command import command_line, run
from benchmarks.machine import generated_by, machine_info, write_result
from kdnas.catalog import find_space
from kdnas.cost import LatencySpec, count_macs_params, measure_latency
from kdnas.data.spec import parse_shape
from kdnas.errors import UserError
from kdnas.space import bind_space, open_space, sample_random

BACKENDS = ("torch", "onnxruntime")
NUM_CLASSES = 10


def sample_students(space_ref: str, n: int, seed: int) -> list[str]:
    """`n` random architectures of the space (canonical text), the same for every input shape."""
    space = open_space(find_space(space_ref))
    if space.kind != "blocks":
        raise UserError(f"--space {space_ref}: a block space is needed (its students build for any input)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return sample_random(space, n, seed)


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected among measured times; MACs ties get average ranks)."""
    def ranks(v: list[float]) -> np.ndarray:
        x = np.asarray(v, dtype=float)
        order = x.argsort(kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=float)
        for value in np.unique(x):  # ties share their mean rank
            r[x == value] = r[x == value].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 1 else float("nan")


def measure_shape(space_ref: str, archs: list[str], shape: tuple[int, int, int], specs: dict[str, LatencySpec]) -> dict:
    """Every student at `shape` with both backends: per-student rows and their summary."""
    build = bind_space(open_space(find_space(space_ref)), shape[0], NUM_CLASSES).builder()
    rows = []
    for i, arch in enumerate(archs):
        model = build(arch, shape[0], NUM_CLASSES).eval()
        macs, params = count_macs_params(model, shape)
        order = BACKENDS if i % 2 == 0 else BACKENDS[::-1]
        row: dict = {"arch": arch, "macs": macs, "params": params}
        for backend in order:
            t0 = time.perf_counter()
            lat = measure_latency(model, shape, specs[backend])
            row[f"{backend}_ms"] = lat.median_ms
            row[f"{backend}_p90_ms"] = lat.p90_ms
            row[f"{backend}_provider"] = lat.provider
            row[f"{backend}_wall_s"] = time.perf_counter() - t0  # the export and session set-up included
        row["ratio"] = row["torch_ms"] / row["onnxruntime_ms"]
        rows.append(row)
    col = {k: [r[k] for r in rows] for k in ("torch_ms", "onnxruntime_ms", "ratio", "macs")}
    summary = {
        "torch_median_ms": statistics.median(col["torch_ms"]),
        "onnxruntime_median_ms": statistics.median(col["onnxruntime_ms"]),
        "ratio_median": statistics.median(col["ratio"]), "ratio_min": min(col["ratio"]), "ratio_max": max(col["ratio"]),
        "spearman_torch_onnxruntime": _spearman(col["torch_ms"], col["onnxruntime_ms"]),
        "spearman_macs_torch": _spearman(col["macs"], col["torch_ms"]),
        "spearman_macs_onnxruntime": _spearman(col["macs"], col["onnxruntime_ms"]),
        "macs_median": statistics.median(col["macs"]),
        "onnxruntime_wall_s_mean": statistics.mean(r["onnxruntime_wall_s"] for r in rows),
        "torch_wall_s_mean": statistics.mean(r["torch_wall_s"] for r in rows),
    }
    return {"input_shape": list(shape), "summary": summary, "students": rows}


def _markdown(result: dict) -> str:
    m, s = result["machine"], result["settings"]
    lines = ["# Latency backends: PyTorch eager against ONNX Runtime", "",
             *generated_by(result["date"], result["command"]),
             f"{s['students']} random students of the shipped `{s['space']}` space (seed {s['seed']}), untrained "
             f"(a forward pass's time does not depend on the weights). Each measured through "
             f"`kdnas.cost.measure_latency` with both backends: batch {s['batch_size']}, {s['threads']} thread(s) "
             f"(onnxruntime: intra-op threads, one inter-op thread; provider "
             f"{result['shapes'][0]['students'][0]['onnxruntime_provider']}), {s['warmup']} warm-up and "
             f"{s['repeats']} timed passes, the median per student; the first backend alternates between students. "
             "ONNX Runtime times the file `kdnas export` writes (in memory).", "",
             "| input | median MACs | torch eager, median ms | onnxruntime, median ms | torch / onnxruntime "
             "(median, min-max) | Spearman torch vs ort | Spearman MACs vs torch | Spearman MACs vs ort |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for sh in result["shapes"]:
        x = sh["summary"]
        lines.append(f"| {'x'.join(map(str, sh['input_shape']))} | {x['macs_median'] / 1e6:.2f} M | "
                     f"{x['torch_median_ms']:.3f} | {x['onnxruntime_median_ms']:.3f} | {x['ratio_median']:.1f}x "
                     f"({x['ratio_min']:.1f}-{x['ratio_max']:.1f}) | {x['spearman_torch_onnxruntime']:.2f} | "
                     f"{x['spearman_macs_torch']:.2f} | {x['spearman_macs_onnxruntime']:.2f} |")
    lines += ["", "Time to measure one student (mean wall seconds, the export and session set-up included): "
              + "; ".join(f"{'x'.join(map(str, sh['input_shape']))}: torch {sh['summary']['torch_wall_s_mean']:.2f} s, "
                          f"onnxruntime {sh['summary']['onnxruntime_wall_s_mean']:.2f} s" for sh in result["shapes"]),
              "", f"- CPU: {m['cpu_model']}; nproc {m['nproc']}; Python {m['python']}, torch {m['torch']}, "
              f"onnxruntime {result['onnxruntime']}, {m['platform']}", f"- load average at start: {m['loadavg_at_start']}",
              "- per-student figures: the .json beside this file", ""]
    return "\n".join(lines)


def _shape(text: str) -> tuple[int, int, int]:
    return parse_shape(text, "--inputs takes CxHxW shapes (1x8x8)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency_backends", description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="mbv2", help="a shipped block space, or a path (default mbv2)")
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inputs", nargs="+", default=["1x8x8", "3x32x32"], help="CxHxW shapes (default 1x8x8 3x32x32)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out-dir", default="reports/benchmarks")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the comparison, write and print the Markdown result."""
    import onnxruntime

    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    shapes = [_shape(t) for t in a.inputs]
    specs = {b: LatencySpec(backend=b, device="cpu", batch_size=1, threads=a.threads, warmup=a.warmup,
                            repeats=a.repeats) for b in BACKENDS}
    machine = machine_info()  # before the run: its load average is the machine's, not ours
    archs = sample_students(a.space, a.students, a.seed)
    result = {"benchmark": "latency-backends", "command": command_line("benchmarks.latency_backends", argv),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "onnxruntime": onnxruntime.__version__,
              "settings": {"space": a.space, "students": a.students, "seed": a.seed, "batch_size": 1,
                           "threads": a.threads, "warmup": a.warmup, "repeats": a.repeats},
              "shapes": [measure_shape(a.space, archs, shape, specs) for shape in shapes]}
    write_result(a.out_dir, "latency-backends", result, _markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
