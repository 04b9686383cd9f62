"""Costs of a student, known before any training: MACs/params (thop) and measured latency."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from kdnas.cost import LatencySpec, count_macs_params, measure_latency
from kdnas.cost.onnx_latency import NotExportable
from kdnas.errors import TrialFailure
from kdnas.space import BlockBuilder, StudentBuilder
from kdnas.study.config import Constraints


@dataclass(frozen=True)
class Costs:
    """MACs and params of one forward pass (batch 1), latency in ms when measured."""

    macs: int
    params: int
    latency_ms: float | None = None

    def violations(self, c: Constraints) -> dict[str, float]:
        """Optuna-style constraint values by limit name: <= 0 means satisfied.

        Normalised by the limit so no constraint dwarfs the others in the sampler's view.
        """
        out = {}
        if c.max_macs is not None:
            out["max_macs"] = self.macs / c.max_macs - 1.0
        if c.max_params is not None:
            out["max_params"] = self.params / c.max_params - 1.0
        if c.max_latency_ms is not None:
            lat = self.latency_ms if self.latency_ms is not None else 1e9
            out["max_latency_ms"] = lat / c.max_latency_ms - 1.0
        return out

    def reason(self, c: Constraints) -> str | None:
        """Which limits are exceeded, in words; None when feasible."""
        over = []
        if c.max_macs is not None and self.macs > c.max_macs:
            over.append(f"MACs {self.macs:,} > {c.max_macs:,}")
        if c.max_params is not None and self.params > c.max_params:
            over.append(f"params {self.params:,} > {c.max_params:,}")
        if c.max_latency_ms is not None and (self.latency_ms is None or self.latency_ms > c.max_latency_ms):
            over.append(f"latency {self.latency_ms:.3f} ms > {c.max_latency_ms} ms")
        return "; ".join(over) or None


class CostModel:
    """Computes and memoises costs by canonical architecture text.

    Building the student can fail (an NNI sample that `freeze` rejects), and so can exporting it to
    time it in onnxruntime: either raises `TrialFailure`, which fails that trial only.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, latency: LatencySpec | None,
                 build: StudentBuilder | None = None) -> None:
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.latency = latency
        self.build = build or BlockBuilder()
        self._memo: dict[str, Costs] = {}

    def __call__(self, arch: Any) -> Costs:
        """Costs of `arch` (anything whose ``str()`` is canonical architecture text)."""
        key = str(arch)
        if key not in self._memo:
            model = self.build(key, self.input_shape[0], self.num_classes).eval()
            macs, params = count_macs_params(model, self.input_shape)
            try:
                lat = measure_latency(model, self.input_shape, self.latency).median_ms if self.latency else None
            except NotExportable as err:  # this student only: the space may hold others that export
                raise TrialFailure(str(err)) from None
            self._memo[key] = Costs(macs, params, lat)
        return self._memo[key]
