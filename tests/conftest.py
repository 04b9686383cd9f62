"""Fixtures shared by every test folder: isolated runs folder, a teacher trained once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.studykit import study_dict


@pytest.fixture(scope="session")
def teacher_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet20 digits teacher trained for 2 epochs, shared by every test of the session."""
    from kdnas.data import load_data
    from kdnas.study.config import config_from_dict
    from kdnas.study.teacher import train_teacher

    tmp = tmp_path_factory.mktemp("teacher")
    cfg = config_from_dict(study_dict(tmp))
    out = tmp / "resnet20-digits.pt"
    train_teacher(cfg, load_data(cfg.data), out, verbose=False)
    return out


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Caches and default storage go to the test's own folder.
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: uses a local Ray cluster with fake GPUs")
    config.addinivalue_line("markers", "postgres: starts a real PostgreSQL server")


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """One local Ray for the whole session with 4 logical CPUs and 2 fake GPUs; its address.

    Started once (it takes ~10 s); executors find Ray initialised and leave it running.
    """
    ray = pytest.importorskip("ray")
    ctx = ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, log_to_driver=False,
                   logging_level="WARNING")
    yield ctx.address_info["gcs_address"]
    ray.shutdown()
