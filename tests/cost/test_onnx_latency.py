"""ONNX Runtime latency: the exported model timed in a session, recorded with its backend and
provider; an absent provider is refused before anything runs."""

from __future__ import annotations

import onnxruntime
import pytest
import torch

from kdnas.cost import LatencySpec, check_latency_device, measure_latency
from kdnas.cost.onnx_latency import PROVIDERS, NotExportable, provider_for
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


class _Unexportable(torch.nn.Module):
    """A model ONNX opset 17 cannot express (antialiased bicubic resize), as a user's own net might be."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", antialias=True)
        return up.flatten(1)


def test_a_model_that_cannot_be_exported_is_one_line_naming_the_way_out() -> None:
    with pytest.raises(NotExportable, match="cannot be exported to ONNX .*_upsample_bicubic2d_aa.*use latency backend torch") as err:
        measure_latency(_Unexportable(), (1, 8, 8), LatencySpec(warmup=0, repeats=1))
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)
    assert measure_latency(_Unexportable(), (1, 8, 8), LatencySpec(backend="torch", warmup=0, repeats=1)).median_ms > 0


def test_a_student_that_cannot_be_exported_fails_its_trial_only() -> None:
    from kdnas.errors import TrialFailure
    from kdnas.study.costs import CostModel

    costs = CostModel((1, 8, 8), 10, LatencySpec(warmup=0, repeats=1), build=lambda text, c, n: _Unexportable())
    with pytest.raises(TrialFailure, match="cannot be exported to ONNX"):
        costs("any-student")
