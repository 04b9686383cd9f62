"""Measured latency of a model on one device (an explicit call; never run by a constructor)."""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from kdnas.device import AUTO, parse_device, resolve_device
from kdnas.errors import UserError


class LatencySpec(BaseModel):
    """How to time a model: device, batch size, CPU threads, warm-up and timed runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = Field("cpu", description="where latency is measured (named, never auto): cpu, cuda, cuda:N or mps")
    batch_size: int = Field(default=1, gt=0, description="images per timed forward pass")
    threads: int = Field(default=1, gt=0, description="CPU threads while timing")
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
    """Result of `measure_latency`: milliseconds per batch, with the settings that produced them."""

    median_ms: float
    p90_ms: float
    device: str
    batch_size: int
    threads: int
    repeats: int
    warmup: int


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), without needing numpy."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], spec: LatencySpec) -> Latency:
    """Time `model` on inputs of (spec.batch_size, *input_shape) on ``spec.device``.

    A deep copy is moved to the device (the caller's model stays where it is), in eval mode under
    ``inference_mode``. ``torch.set_num_threads(spec.threads)`` holds only during the measurement
    and the previous value is restored, since the setting is process-wide. That also means two
    measurements, or a measurement and training, must not run at once in one process. On CUDA each
    timed run is bracketed by ``torch.cuda.synchronize`` so the time covers the kernels, not just
    their launch.
    """
    device = resolve_device(spec.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(spec.threads)
        probe = copy.deepcopy(model).to(device).eval()
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(spec.batch_size, *input_shape, generator=gen).to(device)
        times_ms: list[float] = []
        with torch.inference_mode():
            for _ in range(spec.warmup):
                probe(x)
            for _ in range(spec.repeats):
                sync()
                start = time.perf_counter()
                probe(x)
                sync()
                times_ms.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous_threads)
    return Latency(
        median_ms=statistics.median(times_ms),
        p90_ms=_percentile(times_ms, 90.0),
        device=spec.device,
        batch_size=spec.batch_size,
        threads=spec.threads,
        repeats=spec.repeats,
        warmup=spec.warmup,
    )
