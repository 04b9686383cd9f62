"""Measured latency of a model on one device (an explicit call; never run by a constructor).

Two backends: ``onnxruntime`` times the model exported as `kdnas export` exports it, in the runtime
that file is deployed with (`kdnas.cost.onnx_latency`); ``torch`` times PyTorch eager, which for
small students mostly measures its own per-layer overhead. `measure_latency` measures one model
given a spec; `measure_difference` measures how much longer one model takes than another, the two
timed in alternating blocks so that the machine's drift falls on both alike: the unit a latency
table is built from (`kdnas.cost.latency_table`).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from kdnas.device import AUTO, parse_device, resolve_device
from kdnas.errors import UserError

Backend = Literal["torch", "onnxruntime"]
Mode = Literal["measured", "table", "table_then_measure"]
EAGER = "eager"  # what a torch latency records as its provider


class LatencySpec(BaseModel):
    """How to time a model: runtime, device, batch size, CPU threads, warm-up and timed runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Backend = Field(
        "onnxruntime", description="the runtime timed: onnxruntime (the model exported as `kdnas export` does, in an "
        "ONNX Runtime session; cpu -> CPUExecutionProvider, cuda -> CUDAExecutionProvider) or torch (PyTorch eager, "
        "which for small models mostly measures its own per-layer overhead)")
    device: str = Field("cpu", description="where latency is measured (named, never auto): cpu, cuda, cuda:N or mps")
    batch_size: int = Field(default=1, gt=0, description="images per timed forward pass")
    threads: int = Field(default=1, gt=0, description="CPU threads while timing (onnxruntime: intra-op threads, "
                         "one inter-op thread)")
    mode: Mode = Field(
        "measured", description="where a student's latency comes from: measured (each student timed before it is "
        "trained), table (predicted from the space's latency table, built once and cached: each stage choice timed in "
        "context, the sum of a student's entries; nothing is timed per student, so limits and the objective work at "
        "any number of students) or table_then_measure (the table screens the students, and each one it lets through "
        "is timed before it is trained: its measured latency decides the limit and is the objective); block spaces "
        "only for the table modes")
    warmup: int = Field(default=5, ge=0, description="untimed passes first")
    repeats: int = Field(default=20, gt=0, description="timed passes; the median is the latency")

    @field_validator("device")
    @classmethod
    def _parses(cls, v: str) -> str:
        try:
            device = parse_device(v)
        except UserError as err:
            raise ValueError(str(err)) from None
        if device == AUTO:  # a latency is a figure of one machine; whatever is found is not comparable
            raise ValueError("a latency device is named, not 'auto': cpu, cuda, cuda:N or mps")
        return v  # as written: it is part of the stored study, which must resume unchanged


@dataclass(frozen=True)
class Latency:
    """Result of `measure_latency`: milliseconds per batch, with the settings that produced them.

    `provider` is ONNX Runtime's execution provider (``CPUExecutionProvider``, ...) or ``eager`` for torch.
    """

    median_ms: float
    p90_ms: float
    backend: str
    provider: str
    device: str
    batch_size: int
    threads: int
    repeats: int
    warmup: int

    def setting(self) -> str:
        """The settings in words, as shown next to the figure."""
        return (f"backend {self.backend}, provider {self.provider}, device {self.device}, batch {self.batch_size}, "
                f"threads {self.threads}, {self.repeats} repeats after {self.warmup} warm-up")


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), without needing numpy."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def timed_runs(run: Callable[[], object], warmup: int, repeats: int,
               sync: Callable[[], object] = lambda: None) -> tuple[float, float]:
    """Median and p90 milliseconds of `repeats` calls of `run` after `warmup` untimed ones; `sync`
    brackets each timed call (so an asynchronous device's time covers its work, not its launch)."""
    for _ in range(warmup):
        run()
    times_ms = _times_ms(run, repeats, sync)
    return statistics.median(times_ms), _percentile(times_ms, 90.0)


def _times_ms(run: Callable[[], object], n: int, sync: Callable[[], object]) -> list[float]:
    """Milliseconds of each of `n` calls of `run`, each bracketed by `sync`."""
    times_ms: list[float] = []
    for _ in range(n):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times_ms.append((time.perf_counter() - start) * 1000.0)
    return times_ms


Run = Callable[[], object]  # one forward pass of a model prepared for timing


def interleaved_difference(run: Run, minus: Run, warmup: int, repeats: int, sync: Callable[[], object] = lambda: None,
                           *, blocks: int = 20) -> tuple[float, float, float]:
    """How many ms `run` takes over `minus`, and each one's median: the two are timed in `blocks`
    alternating blocks of ``repeats // blocks`` calls (A B, B A, A B, ...), and the difference is the
    median over blocks of (A's block median - B's). The first call of each block follows the other
    model and finds the caches holding its data, so it is made but not counted.

    Why together: the two timed one after the other (each over all its runs) differ also by whatever
    the machine did in between (another process, the clock, the allocator), and a small part's
    difference of two larger figures turns that drift into errors of several times the part. In
    blocks, each call follows calls of its own model, and the drift falls on both alike
    (docs/research/latency-table.md)."""
    per = max(1, repeats // blocks)
    for _ in range(warmup):
        run()
        minus()

    def block(f: Run) -> float:
        f()  # after the other model: not counted
        return statistics.median(_times_ms(f, per, sync))

    diffs, a_ms, b_ms = [], [], []
    for i in range(blocks):
        if i % 2 == 0:
            a, b = block(run), block(minus)
        else:
            b, a = block(minus), block(run)
        diffs.append(a - b)
        a_ms.append(a)
        b_ms.append(b)
    return statistics.median(diffs), statistics.median(a_ms), statistics.median(b_ms)


def check_latency_device(spec: LatencySpec) -> str:
    """The provider a `Latency` of `spec` records, its device checked to exist before anything runs:
    the ONNX Runtime provider for onnxruntime (torch's own devices do not matter there), ``eager``
    for torch once its device resolves. A one-line `UserError` when the device is absent."""
    if spec.backend == "onnxruntime":
        from kdnas.cost.onnx_latency import available_provider

        return available_provider(spec.device)
    resolve_device(spec.device)
    return EAGER


@contextmanager
def runners(models: Sequence[nn.Module], input_shape: tuple[int, int, int],
            spec: LatencySpec) -> Iterator[tuple[list[Run], Callable[[], object], str]]:
    """Each model prepared for timing on ``spec.backend`` and ``spec.device``: one call per model
    (a forward pass on a fixed random batch of (spec.batch_size, *input_shape)), the call that
    brackets a timed pass (CUDA's synchronize, else nothing) and the provider recorded. The calls are
    valid inside the block only (torch holds ``spec.threads`` until it ends)."""
    if spec.backend == "onnxruntime":
        from kdnas.cost.onnx_latency import onnxruntime_runs  # onnxruntime loads only when it is used

        runs, provider = onnxruntime_runs(models, input_shape, spec)
        yield runs, (lambda: None), provider
        return
    with _torch_runs(models, input_shape, spec) as (runs, sync):
        yield runs, sync, EAGER


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], spec: LatencySpec) -> Latency:
    """Time `model` on inputs of (spec.batch_size, *input_shape) with ``spec.backend`` on ``spec.device``:
    ``spec.warmup`` untimed passes, then the median (and p90) of ``spec.repeats`` timed ones."""
    with runners([model], input_shape, spec) as (runs, sync, provider):
        median_ms, p90_ms = timed_runs(runs[0], spec.warmup, spec.repeats, sync)
    return Latency(median_ms=median_ms, p90_ms=p90_ms, backend=spec.backend, provider=provider, device=spec.device,
                   batch_size=spec.batch_size, threads=spec.threads, repeats=spec.repeats, warmup=spec.warmup)


def measure_difference(model: nn.Module, minus: nn.Module, input_shape: tuple[int, int, int],
                       spec: LatencySpec) -> tuple[float, float, float]:
    """How many ms `model` takes over `minus` on the same inputs, and each one's median, timed in
    alternating blocks (`interleaved_difference`) with ``spec.repeats`` timed passes of each."""
    with runners([model, minus], input_shape, spec) as (runs, sync, _):
        return interleaved_difference(runs[0], runs[1], spec.warmup, spec.repeats, sync)


@contextmanager
def _torch_runs(models: Sequence[nn.Module], input_shape: tuple[int, int, int],
                spec: LatencySpec) -> Iterator[tuple[list[Run], Callable[[], object]]]:
    """PyTorch eager: a deep copy of each model on the device (the caller's stay where they are), in
    eval mode under ``inference_mode``. ``torch.set_num_threads(spec.threads)`` holds only inside the
    block and the previous value is restored, since the setting is process-wide: two measurements, or
    a measurement and training, must not run at once in one process. On CUDA each timed pass is
    bracketed by ``torch.cuda.synchronize`` so the time covers the kernels, not just their launch."""
    device = resolve_device(spec.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(spec.threads)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(spec.batch_size, *input_shape, generator=gen).to(device)
        probes = [copy.deepcopy(m).to(device).eval() for m in models]
        with torch.inference_mode():
            yield [lambda p=p: p(x) for p in probes], sync
    finally:
        torch.set_num_threads(previous_threads)
