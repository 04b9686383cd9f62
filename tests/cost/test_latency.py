"""Latency in PyTorch eager: positive times, the spec echoed, the thread setting restored."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from kdnas.cost import Latency, LatencySpec, measure_latency
from kdnas.cost.latency import measure_difference
from kdnas.errors import UserError
from kdnas.teachers import create_model


def test_measures_and_restores_threads():
    model = create_model("resnet20", num_classes=10, in_channels=1, input_size=(8, 8))
    before = torch.get_num_threads()
    spec = LatencySpec(backend="torch", batch_size=2, threads=1, warmup=1, repeats=5)
    lat = measure_latency(model, (1, 8, 8), spec)
    assert isinstance(lat, Latency)
    assert 0 < lat.median_ms <= lat.p90_ms
    assert (lat.backend, lat.provider, lat.device, lat.batch_size, lat.threads, lat.repeats, lat.warmup) == \
        ("torch", "eager", "cpu", 2, 1, 5, 1)
    assert torch.get_num_threads() == before


def test_threads_restored_after_failure():
    before = torch.get_num_threads()
    bad_input = (5, 8, 8)  # the model takes 1 channel
    with pytest.raises(RuntimeError):
        measure_latency(create_model("resnet20", num_classes=10, in_channels=1), bad_input, LatencySpec(backend="torch", threads=1))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_caller_model_untouched(backend: str):
    model = create_model("resnet20", num_classes=10).train()
    measure_latency(model, (3, 8, 8), LatencySpec(backend=backend, warmup=0, repeats=1))
    assert model.training


def test_spec_validation():
    assert LatencySpec() == LatencySpec(backend="onnxruntime", device="cpu", batch_size=1, threads=1, warmup=5, repeats=20)
    for bad in ({"backend": "tflite"}, {"batch_size": 0}, {"threads": 0}, {"warmup": -1}, {"repeats": 0}, {"device": "toaster"}, {"device": "auto"}, {"x": 1}):
        with pytest.raises(ValidationError):
            LatencySpec(**bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_missing_cuda_is_user_error():
    with pytest.raises(UserError, match="device 'cuda' requested but"):
        measure_latency(torch.nn.Linear(2, 2), (2, 1, 1), LatencySpec(backend="torch", device="cuda"))


class _DriftingClock:
    """A machine whose every call costs its own work plus a slowdown that grows with time (another
    process starting, the clock stepping down): the drift a latency table's differences must survive."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def call(self, work: float):  # noqa: ANN201
        def run() -> None:
            self.now += work + 5e-4 * self.now  # the drift, the same for every model at one moment
        return run


def test_a_difference_timed_in_alternating_blocks_cancels_the_machines_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    import kdnas.cost.latency as latency

    clock = _DriftingClock()
    monkeypatch.setattr(latency.time, "perf_counter", clock.perf_counter)
    part, prefix = clock.call(1.5), clock.call(1.0)  # the part takes 0.5 over its prefix at any moment
    diff_ms, part_ms, prefix_ms = latency.interleaved_difference(part, prefix, warmup=2, repeats=400)
    assert diff_ms == pytest.approx(500.0, rel=0.05)  # seconds of the fake clock, in ms
    assert part_ms > prefix_ms
    # the two timed one after the other, as table v3 did: the drift in between lands on the part
    clock.now = 0.0
    separate = latency.timed_runs(part, 2, 400)[0] - latency.timed_runs(prefix, 2, 400)[0]
    assert abs(separate / 500.0 - 1) > 0.3


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_measure_difference_times_two_models_on_one_input(backend: str) -> None:
    small = torch.nn.Conv2d(3, 4, 3, padding=1)
    big = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.Conv2d(64, 64, 3, padding=1))
    diff, big_ms, small_ms = measure_difference(big, small, (3, 16, 16), LatencySpec(backend=backend, repeats=40))
    assert big_ms > small_ms > 0 and diff > 0  # about 600x the MACs: no noise reverses that
