"""A tiny separable problem shared by the distillation tests: 2-class gaussian blobs as images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdnas.arch import Arch

TINY = Arch.from_str("stem_c4-ir_s1_k3_e1_c4_d1-dws_s2_k3_e1_c8_d1-head_c0")


def blobs(n: int, seed: int, shape: tuple[int, int, int] = (1, 4, 4)) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 pixels around -1, class 1 around +1 (unit noise): linearly separable in the mean."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, *shape, generator=g) + (2.0 * y - 1.0).view(-1, 1, 1, 1)
    return x.float(), y.long()


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default teacher-output cache lands in tmp, never in ./runs."""
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))


@pytest.fixture(autouse=True)
def one_thread():
    """Keep the set quick and predictable on a 2-core machine; restore afterwards."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture
def data():
    x_train, y_train = blobs(256, 0)
    x_val, y_val = blobs(128, 1)
    return x_train, y_train, x_val, y_val


@pytest.fixture
def tiny() -> Arch:
    """A two-stage student small enough to train in a few hundred milliseconds."""
    return TINY


@pytest.fixture
def make_blobs():
    """The `blobs` maker, for tests that need data of their own."""
    return blobs
