"""How long a short run's evaluation pass takes on the CPU, by batch size: the measurement behind
`kdnas.distill.evaluate.CPU_EVAL_CHUNK`.

Usage (from the repository root, in the project's environment):

    python -m benchmarks.eval_batch_cpu REPORT.json [REPORT.json ...]

For every fidelity report named, every third student of its panel is built (untrained: the time of a
forward pass does not depend on the weights) and 1,000 random images of the report's input shape go
through `accuracy_and_loss` on one thread, whole batches of each size (`cpu_chunk=None`), and through
`recalibrate_bn` on 512 images at each batch size. Sizes are taken in a rotating order and timed three
times; the first pass is a warm-up and not counted. Writes `reports/benchmarks/eval-batch-cpu.{json,md}`
with the command that made them.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from kdnas.arch import Arch
from benchmarks.machine import machine_info, write_result
from kdnas.distill.bn_recal import recalibrate_bn
from kdnas.distill.evaluate import CPU_EVAL_CHUNK, accuracy_and_loss
from kdnas.space import build_student

OUT = Path("reports/benchmarks/eval-batch-cpu")
SIZES = [1024, 512, 256, 128, 64, 32]
REPEATS = 3


def measure(report: Path) -> dict:
    """Mean seconds per student of the evaluation pass and of the recalibration, by batch size."""
    r = json.loads(report.read_text())
    shape = (1, 28, 28) if "fashion" in r["data"]["name"] else (3, 32, 32)
    archs = [row["arch"] for row in r["panel"]][::3]
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(1000, *shape, generator=gen), torch.randint(0, 10, (1000,), generator=gen)
    x_recal = torch.randn(2048, *shape, generator=gen)
    ev = {b: 0.0 for b in SIZES}
    rc = {b: 0.0 for b in SIZES}
    for rep in range(REPEATS):
        for j, arch in enumerate(archs):
            model = build_student(Arch.from_str(arch), shape[0], 10)
            k = (j + rep) % len(SIZES)  # rotate, so that no size always runs first or last
            for bs in SIZES[k:] + SIZES[:k]:
                t0 = time.perf_counter()
                accuracy_and_loss(model, x, y, bs, cpu_chunk=None)
                t1 = time.perf_counter()
                recalibrate_bn(model, x_recal, 512, bs, 0)
                t2 = time.perf_counter()
                if rep:  # the first pass warms up allocator and kernels
                    ev[bs] += t1 - t0
                    rc[bs] += t2 - t1
    n = (REPEATS - 1) * len(archs)
    return {"report": str(report), "data": r["data"]["name"], "input_shape": list(shape), "students": archs,
            "eval_1000_s": {str(b): ev[b] / n for b in SIZES}, "recal_512_s": {str(b): rc[b] / n for b in SIZES}}


def main(paths: list[str]) -> int:
    torch.set_num_threads(1)
    command = "python -m benchmarks.eval_batch_cpu " + " ".join(shlex.quote(p) for p in paths)
    rows = [measure(Path(p)) for p in paths]
    result = {"benchmark": "eval-batch-cpu", "command": command, "threads": 1, "cpu_eval_chunk": CPU_EVAL_CHUNK,
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "rows": rows}
    lines = ["# Evaluation pass on the CPU, by batch size", "", f"Generated {result['date']} by:", "",
             "```", command, "```", "",
             "One thread; untrained panel students (every third of each report's panel), 1,000 random images through "
             "`accuracy_and_loss` in whole batches, and BatchNorm recalibration on 512 images, at each batch size. "
             f"Mean seconds per student over {REPEATS - 1} timed passes (one warm-up pass not counted), sizes in a "
             f"rotating order. `CPU_EVAL_CHUNK` is now {CPU_EVAL_CHUNK}.", ""]
    for row in rows:
        base_e, base_r = row["eval_1000_s"]["1024"], row["recal_512_s"]["256"]
        lines += [f"## {row['data']} ({'x'.join(map(str, row['input_shape']))}, {len(row['students'])} students, "
                  f"from `{row['report']}`)", "",
                  "| batch | evaluate 1,000 images (s) | vs 1024 | recalibrate on 512 (s) | vs 256 |",
                  "|---:|---:|---:|---:|---:|"]
        for b in SIZES:
            e, c = row["eval_1000_s"][str(b)], row["recal_512_s"][str(b)]
            lines.append(f"| {b} | {e:.3f} | {base_e / e:.2f}x | {c:.3f} | {base_r / c:.2f}x |")
        lines.append("")
    write_result(OUT.parent, OUT.name, result, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
