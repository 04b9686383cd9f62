"""A tiny study context for executor tests: 2-class blobs as (1, 4, 4) images, a fake teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdnas.distill import ProxySpec, TeacherOutputs
from kdnas.execute import ProxyContext

ARCH = "stem_c4-ir_s1_k3_e1_c4_d1-skip-dws_s2_k3_e1_c8_d1-head_c0"


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    return torch.randn(n, 1, 4, 4, generator=g) + (2.0 * y - 1.0).view(-1, 1, 1, 1), y


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    prev = torch.get_num_threads()
    yield
    torch.set_num_threads(prev)


@pytest.fixture
def make_ctx():
    """`make_ctx(**spec_fields)`: a ProxyContext whose teacher is fake, confident and right."""

    def make(x_train: torch.Tensor | None = None, **spec) -> ProxyContext:
        xt, yt = _blobs(192, 0)
        xv, yv = _blobs(96, 1)
        if x_train is not None:
            xt = x_train
        logits = torch.stack([1.0 - 2.0 * yt, 2.0 * yt - 1.0], 1).float() * 4.0
        feats = {1: torch.nn.functional.avg_pool2d(xt, 2).repeat(1, 5, 1, 1).half()}  # (N, 5, 2, 2)
        fields = {"method": "kd", "steps": 30, "batch_size": 32, "optimizer": "sgd", "lr": 0.05, **spec}
        return ProxyContext(xt, yt, xv, yv, TeacherOutputs(logits, feats, "fake"), ProxySpec(**fields),
                            in_channels=1, num_classes=2, alignment=((2, 1),), teacher_channels=(3, 5))

    return make


@pytest.fixture
def arch_text() -> str:
    return ARCH
