"""Latency in PyTorch eager: positive times, the spec echoed, the thread setting restored."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from kdnas.cost import Latency, LatencySpec, measure_latency
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
