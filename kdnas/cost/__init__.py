"""Costs of an architecture, known before any training: MACs/params (thop) and measured latency."""

from __future__ import annotations

from kdnas.cost.latency import Latency, LatencySpec, measure_latency
from kdnas.cost.macs import count_macs_params, count_params

__all__ = ["Latency", "LatencySpec", "count_macs_params", "count_params", "measure_latency"]
