"""A search with a latency objective measures every student in ONNX Runtime (the default backend) and
says so in the study; a study that names `backend: torch` measures PyTorch eager."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from kdnas.execute import LocalExecutor
from kdnas.study import records as R
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

from tests.studykit import write_study


@pytest.mark.parametrize(("latency", "backend", "provider"), [
    ({}, "onnxruntime", "CPUExecutionProvider"),
    ({"backend": "torch"}, "torch", "eager"),
])
def test_a_latency_objective_records_its_backend(tmp_path: Path, teacher_ckpt: Path, latency: dict, backend: str,
                                                 provider: str) -> None:
    path = write_study(tmp_path, teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)},
                       objectives=["score", "latency"], budget={"trials": 3}, latency={"repeats": 5, **latency},
                       proxy={"method": "kd", "steps": 5, "batch_size": 64, "optimizer": "sgd", "lr": 0.05})
    assert run_search(load_and_prepare(path, verbose=False), LocalExecutor(), progress=False).trained == 3
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert study.metric_names == ["score", "latency"]
    spec = json.loads(study.user_attrs[R.STUDY_LATENCY_SPEC])
    assert (spec["backend"], spec["provider"], spec["device"], spec["threads"], spec["batch_size"]) == \
        (backend, provider, "cpu", 1, 1)
    assert json.loads(study.user_attrs[R.STUDY_CONFIG])["latency"]["backend"] == backend
    measured = [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    assert measured and all(t.user_attrs[R.LATENCY_MS] > 0 and t.values[1] == t.user_attrs[R.LATENCY_MS]
                            for t in measured)
    assert json.loads(study.user_attrs[R.STUDY_TEACHER])["latency_ms"] > 0
