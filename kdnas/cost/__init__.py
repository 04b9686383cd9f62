"""Costs of an architecture, known before any training: MACs/params (thop) and measured latency."""

from __future__ import annotations

from kdnas.cost.latency import Latency, LatencySpec, check_latency_device, measure_latency
from kdnas.cost.macs import count_macs_params, count_params

__all__ = ["Latency", "LatencySpec", "check_latency_device", "count_macs_params", "count_params", "measure_latency"]
