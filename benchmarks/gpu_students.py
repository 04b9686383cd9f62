"""Several students per device: trials per hour and device utilisation with 1, 2, 4... worker
processes (`executor.workers_per_device`), and a real out-of-memory error that fails one trial while
the next student trains. Part of `benchmarks/gpu_check.sh`; runs on any device (`cpu` rehearses it).

The same students (a random draw from the study's space) run at every worker count on the study's
prepared context (its teacher outputs cached by an earlier search). Each worker first trains one
warm-up student, not timed: it pays for the process start, CUDA's context and the data's move to the
device, which a search pays once. Then `--trials` students are timed from the first hand-over to the
last outcome. On CUDA, `nvidia-smi` samples GPU utilisation every 200 ms in the background during
the timed part.

    python -m benchmarks.gpu_students STUDY.yaml --workers 1,2,4 --trials 24 --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kdnas.atomic import write_text
from kdnas.execute import TrialOutcome, TrialTask
from kdnas.execute.pool import LocalPool
from kdnas.space.sample import sample_random
from kdnas.study.search import load_and_prepare



def huge(arch: str, width: int = 1024) -> str:
    """`arch` made absurd: every width `width`, every expansion 6 (on CIFAR-sized inputs one
    expanded activation of a batch of 64 is most of a GB): it cannot fit a capped worker's share.
    The same stages as `arch`, so it is a student of the space (its hint alignment holds)."""
    return re.sub(r"_e\d+", "_e6", re.sub(r"_c\d+", f"_c{width}", arch))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class GpuSampler:
    """`nvidia-smi` writing GPU utilisation (%) and memory (MiB) every 200 ms while in a `with`
    block; nothing (and `None` figures) where there is no nvidia-smi."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._file = tempfile.NamedTemporaryFile("w+", suffix=".csv")
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "200"], stdout=self._file, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()
            self._file.seek(0)
            for line in self._file:
                parts = [p.strip() for p in line.split(",")]
                if len(parts) == 2 and all(p.replace(".", "").isdigit() for p in parts):
                    self.samples.append((float(parts[0]), float(parts[1])))
        self._file.close()

    def summary(self) -> dict[str, float | None]:
        """Mean utilisation, the share of samples at 0 %, peak memory, the sample count."""
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_idle_share": None, "gpu_mem_peak_mib": None, "samples": 0}
        util = [u for u, _ in self.samples]
        return {"gpu_util_mean": statistics.fmean(util), "gpu_idle_share": sum(u == 0 for u in util) / len(util),
                "gpu_mem_peak_mib": max(m for _, m in self.samples), "samples": len(util)}


def _drain(pool: LocalPool, want: int, guard_s: float) -> list[TrialOutcome]:
    out: list[TrialOutcome] = []
    deadline = time.monotonic() + guard_s
    while len(out) < want and time.monotonic() < deadline:
        out += pool.wait(timeout=1.0)
    return out


def run_pool(ctx: object, workers: int, archs: list[str], guard_s: float,
             memory_fraction: float | None = None) -> dict:
    """`archs` through a pool of `workers` per device after one untimed warm-up student per worker."""
    pool = LocalPool(workers, memory_fraction=memory_fraction)
    t_start = time.perf_counter()
    pool.start(ctx)  # type: ignore[arg-type]
    try:
        for k in range(pool.capacity):  # warm-up: process start, CUDA context, data moved once
            pool.submit(TrialTask(10_000 + k, archs[k % len(archs)], k))
        warm = _drain(pool, pool.capacity, guard_s)
        ready_s = time.perf_counter() - t_start
        todo = [TrialTask(n, a, n) for n, a in enumerate(archs)]
        done: list[TrialOutcome] = []
        with GpuSampler() as gpu:
            t0 = time.perf_counter()
            deadline = time.monotonic() + guard_s
            while (todo or pool.outstanding) and time.monotonic() < deadline:
                while todo and pool.outstanding < pool.capacity:
                    pool.submit(todo.pop(0))
                done += pool.wait(timeout=1.0)
            wall = time.perf_counter() - t0
    finally:
        pool.shutdown()
    ok = [o for o in done if o.ok]
    return {"workers_per_device": workers, "workers": len(warm), "devices": sorted({o.where.get("device", "?") for o in done}),
            "trials": len(done), "ok": len(ok), "wall_s": wall, "trials_per_hour": 3600 * len(done) / wall if wall else None,
            "train_s_mean": statistics.fmean(o.metrics["train_s"] for o in ok) if ok else None,
            "ready_s": ready_s, "failed": sorted({o.reason or "" for o in done if not o.ok}), **gpu.summary()}


def out_of_memory(ctx: object, normal: str, fraction: float, guard_s: float) -> dict:
    """One worker capped at `fraction` of its GPU: the absurd student first, then a normal one on
    the same worker. Passes when the first fails as out of memory and the second trains."""
    big = huge(normal)
    pool = LocalPool(1, memory_fraction=fraction)
    pool.start(ctx)  # type: ignore[arg-type]
    try:
        pool.submit(TrialTask(0, big, 0))
        (huge,) = _drain(pool, 1, guard_s)
        pool.submit(TrialTask(1, normal, 1))
        (after,) = _drain(pool, 1, guard_s)
    finally:
        pool.shutdown()
    return {"memory_fraction": fraction, "huge": big, "huge_ok": huge.ok, "huge_reason": huge.reason,
            "next": normal, "next_ok": after.ok, "next_reason": after.reason,
            "same_worker": huge.where.get("pid") == after.where.get("pid"),
            "passed": (not huge.ok) and huge.reason == "out of memory" and after.ok}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", type=Path, help="a study file whose teacher is trained (its outputs cached)")
    p.add_argument("--workers", default="1,2,4", help="workers per device to compare (default 1,2,4)")
    p.add_argument("--trials", type=int, default=24, help="timed students per worker count (default 24)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random students (default 0)")
    p.add_argument("--oom-fraction", type=float, default=0.05,
                   help="CUDA: the capped worker's share of GPU memory for the out-of-memory part (default 0.05)")
    p.add_argument("--guard-s", type=float, default=240, help="give up on a part after this many seconds")
    p.add_argument("--json", type=Path, required=True, help="where to write the figures")
    args = p.parse_args(argv)
    setup = load_and_prepare(args.study, verbose=False)
    archs = sample_random(setup.space, args.trials, args.seed)
    out: dict = {"study": str(args.study), "device": setup.ctx.device, "trials": args.trials, "runs": []}
    for w in (int(x) for x in args.workers.split(",")):
        _log(f"{w} worker(s) per device: {args.trials} students")
        run = run_pool(setup.ctx, w, archs, args.guard_s)
        _log(f"  {run['trials_per_hour']:.0f} trials/h, GPU util {run['gpu_util_mean']}, failed {run['failed']}")
        out["runs"].append(run)
    base = out["runs"][0]["trials_per_hour"]
    for run in out["runs"]:
        run["speedup"] = run["trials_per_hour"] / base if base else None
    if setup.ctx.device.startswith("cuda"):
        _log(f"out of memory: {huge(archs[0])} in a worker capped at {args.oom_fraction:g} of the GPU, then {archs[0]}")
        out["oom"] = out_of_memory(setup.ctx, archs[0], args.oom_fraction, args.guard_s)
    else:
        out["oom"] = {"passed": None, "skipped": "no per-worker memory cap off CUDA (a CPU out-of-memory error "
                      "would take the machine's memory, not a worker's share)"}
    write_text(args.json, json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
