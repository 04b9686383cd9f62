"""Costs of a student, known before any training: MACs/params (thop) and latency, measured or
predicted from the space's latency table (`latency.mode`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kdnas.arch import Arch
from kdnas.cost import LatencySpec, count_macs_params, measure_latency
from kdnas.cost.latency_table import LatencyTable
from kdnas.cost.onnx_latency import NotExportable
from kdnas.errors import TrialFailure
from kdnas.space import BlockBuilder, StudentBuilder
from kdnas.study import records as R
from kdnas.study.config import Constraints

MEASURED, TABLE = "measured", "table"  # where a latency figure came from


@dataclass(frozen=True)
class Costs:
    """MACs and params of one forward pass (batch 1) and, when the study needs latency, its figures:
    `latency_ms` (what the objective and the limit read; `latency_source` says whether it was
    measured or read from the table) and `latency_table_ms` (the table's prediction, in the table
    modes). In `table_then_measure` a student the table lets through is timed before it is trained,
    and its measured figure decides: the table only spares timing the students it already refuses."""

    macs: int
    params: int
    latency_ms: float | None = None
    latency_source: str | None = None
    latency_table_ms: float | None = None

    def latency_attrs(self) -> dict[str, Any]:
        """What a trial records of its latency: the figure, and (when latency is used) its source and
        the table's prediction."""
        attrs: dict[str, Any] = {R.LATENCY_MS: self.latency_ms}
        if self.latency_source is not None:
            attrs[R.LATENCY_SOURCE] = self.latency_source
        if self.latency_table_ms is not None:
            attrs[R.LATENCY_TABLE_MS] = self.latency_table_ms
        return attrs

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
        lat = self.latency_ms
        if c.max_latency_ms is not None and (lat is None or lat > c.max_latency_ms):
            over.append(f"latency {lat:.3f} ms > {c.max_latency_ms} ms{self._source()}")
        return "; ".join(over) or None

    def _source(self) -> str:
        # where the figure a limit refused came from; a measured one beside the table's, which let it through
        if self.latency_source == TABLE:
            return " (latency table)"
        if self.latency_table_ms is not None:
            return f" (measured; the latency table predicted {self.latency_table_ms:.3f} ms)"
        return ""


class CostModel:
    """Computes and memoises costs by canonical architecture text.

    With `latency` in mode ``table`` or ``table_then_measure``, `table` (the space's latency table)
    predicts each student's latency; ``table_then_measure`` also times the students the table and
    the other limits (`constraints`) let through, so that one measured over `max_latency_ms` is
    refused before it is trained.

    Building the student can fail (an NNI sample that `freeze` rejects), and so can exporting it to
    time it in onnxruntime: either raises `TrialFailure`, which fails that trial only.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, latency: LatencySpec | None,
                 build: StudentBuilder | None = None, *, table: LatencyTable | None = None,
                 constraints: Constraints | None = None) -> None:
        if latency is not None and latency.mode != MEASURED and table is None:
            raise ValueError(f"latency.mode {latency.mode} needs the space's latency table")
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.latency = latency
        self.build = build or BlockBuilder()
        self.table = table
        self.constraints = constraints or Constraints()
        self._memo: dict[str, Costs] = {}

    def _measure(self, model: Any) -> float:
        try:
            return measure_latency(model, self.input_shape, self.latency).median_ms  # type: ignore[arg-type]
        except NotExportable as err:  # this student only: the space may hold others that export
            raise TrialFailure(str(err)) from None

    def __call__(self, arch: Any) -> Costs:
        """Costs of `arch` (anything whose ``str()`` is canonical architecture text)."""
        key = str(arch)
        if key not in self._memo:
            model = self.build(key, self.input_shape[0], self.num_classes).eval()
            macs, params = count_macs_params(model, self.input_shape)
            if self.latency is None:
                costs = Costs(macs, params)
            elif self.latency.mode == MEASURED:
                costs = Costs(macs, params, self._measure(model), MEASURED)
            else:
                predicted = self.table.predict(Arch.from_str(key))  # type: ignore[union-attr]
                costs = Costs(macs, params, predicted, TABLE, predicted)
                if self.latency.mode == "table_then_measure" and costs.reason(self.constraints) is None:
                    costs = Costs(macs, params, self._measure(model), MEASURED, predicted)
            self._memo[key] = costs
        return self._memo[key]
