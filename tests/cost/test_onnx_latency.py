"""ONNX Runtime latency: the exported model timed in a session, recorded with its backend and
provider; an absent provider is refused before anything runs."""

from __future__ import annotations

import onnxruntime
import pytest
import torch

from kdnas.cost import LatencySpec, check_latency_device, measure_latency
from kdnas.cost.onnx_latency import PROVIDERS, provider_for
from kdnas.errors import UserError
from kdnas.teachers import create_model
from tests.test_cli import assert_user_error, kdnas

HAS_CUDA_EP = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _tiny() -> torch.nn.Module:
    return create_model("resnet8", num_classes=10, in_channels=1, input_size=(8, 8))


def test_onnxruntime_latency_is_positive_and_says_how_it_was_measured() -> None:
    model = _tiny().train()
    lat = measure_latency(model, (1, 8, 8), LatencySpec(backend="onnxruntime", batch_size=2, threads=1,
                                                        warmup=1, repeats=5))
    assert 0 < lat.median_ms <= lat.p90_ms
    assert (lat.backend, lat.provider, lat.device, lat.batch_size, lat.threads, lat.repeats, lat.warmup) == \
        ("onnxruntime", "CPUExecutionProvider", "cpu", 2, 1, 5, 1)
    assert "backend onnxruntime, provider CPUExecutionProvider" in lat.setting()
    assert model.training  # the export worked on a copy


@pytest.mark.parametrize(("backend", "provider"), [("torch", "eager"), ("onnxruntime", "CPUExecutionProvider")])
def test_both_backends_through_measure_latency(backend: str, provider: str) -> None:
    lat = measure_latency(_tiny(), (1, 8, 8), LatencySpec(backend=backend, warmup=1, repeats=3))
    assert lat.median_ms > 0 and (lat.backend, lat.provider) == (backend, provider)
    assert check_latency_device(LatencySpec(backend=backend)) == provider


def test_the_default_backend_is_onnxruntime() -> None:
    assert LatencySpec().backend == "onnxruntime"


def test_provider_for_device() -> None:
    available = onnxruntime.get_available_providers()
    assert provider_for("cpu", available) == "CPUExecutionProvider"
    assert provider_for("cuda:1", [*available, "CUDAExecutionProvider"]) == PROVIDERS["cuda"]
    with pytest.raises(UserError, match="needs CUDAExecutionProvider, which this onnxruntime does not have") as err:
        provider_for("cuda", [p for p in available if p != "CUDAExecutionProvider"])
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="'mps' has no ONNX Runtime provider"):
        provider_for("mps", available)


@pytest.mark.skipif(HAS_CUDA_EP, reason="checks the refusal where onnxruntime has no CUDA provider")
def test_absent_cuda_provider_is_refused_before_anything_runs(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="CUDAExecutionProvider"):
        measure_latency(_tiny(), (1, 8, 8), LatencySpec(device="cuda"))
    proc = kdnas("profile", "resnet8", "--backend", "onnxruntime", "--device", "cuda", cwd=tmp_path)
    assert_user_error(proc, "latency device 'cuda' with backend onnxruntime needs CUDAExecutionProvider")
    assert proc.stdout == ""  # refused before the model was built or measured


def test_profile_prints_backend_and_provider(tmp_path) -> None:  # noqa: ANN001
    for backend, provider in (("onnxruntime", "CPUExecutionProvider"), ("torch", "eager")):
        proc = kdnas("profile", "resnet8", "--input", "1,8,8", "--backend", backend, "--repeats", "2", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert f"backend {backend}, provider {provider}, device cpu, batch 1, threads 1" in proc.stdout
