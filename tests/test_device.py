"""The one device setting: parsing, resolution, placement checks, and every command's refusal of an
impossible device before anything is written. Runs on a machine without CUDA (the refusals are
real: no check is mocked), so the tests that need that are skipped where a GPU is visible."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdnas.cli import main
from kdnas.device import check_placement, describe_device, parse_device, resolve_device, resolve_placement
from kdnas.errors import UserError
from tests.studykit import write_study

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")


@pytest.mark.parametrize(("text", "canonical"), [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"),
                                                 ("cuda:0", "cuda:0"), ("Cuda:12", "cuda:12"), ("mps", "mps")])
def test_parse_canonical(text: str, canonical: str) -> None:
    assert parse_device(text) == canonical


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "cuda:x", "cuda0", "toaster", ""])
def test_parse_refuses_typos(text: str) -> None:
    with pytest.raises(UserError, match="is not one of auto, cpu, cuda, cuda:N or mps"):
        parse_device(text)


@no_cuda
def test_auto_is_the_cpu_here_and_cuda_is_refused() -> None:
    assert resolve_device("auto") == torch.device("cpu") == resolve_device("cpu")
    assert describe_device("cpu") == "cpu"
    for text in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(UserError) as err:
            resolve_device(text)
        assert str(err.value) == f"device '{text}' requested but this torch has no CUDA (torch {torch.__version__})" \
            or "no GPU is visible" in str(err.value)


@pytest.mark.parametrize(("device", "executor", "gpus", "words"), [
    ("cpu", "local", 0.25, "trains without a GPU but executor.gpus_per_trial is 0.25"),
    ("cpu", "ray", 1, "trains without a GPU"),
    ("mps", "ray", 0.5, "trains without a GPU"),
    ("cuda", "ray", 0, "needs executor.gpus_per_trial > 0"),
    ("cuda:1", "ray", 1, "Ray gives each trial its own"),
])
def test_placement_refusals(device: str, executor: str, gpus: float, words: str) -> None:
    with pytest.raises(UserError, match=words):
        check_placement(device, executor, gpus)


@pytest.mark.parametrize(("device", "executor", "gpus"), [
    ("cpu", "local", 0), ("cpu", "ray", 0), ("cuda", "local", 0), ("cuda:1", "local", 0), ("cuda", "ray", 0.25),
    ("cuda:0", "ray", 1),
])
def test_placement_accepts(device: str, executor: str, gpus: float) -> None:
    check_placement(device, executor, gpus)


@no_cuda
def test_auto_is_checked_as_resolved() -> None:
    assert resolve_placement("auto", "ray", 0) == torch.device("cpu")
    with pytest.raises(UserError, match="device 'auto' is 'cpu' on this machine: .*gpus_per_trial is 0.5"):
        resolve_placement("auto", "ray", 0.5)


def _refused(capsys: pytest.CaptureFixture, argv: list[str], *words: str) -> None:
    """`kdnas argv` ends with exit status 2 and one error line holding `words`."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdnas: error: "), lines
    for w in words:
        assert w in lines[0], lines[0]


def _untouched(tmp_path: Path) -> None:
    assert not (tmp_path / "study.db").exists()  # no storage, so no study
    assert not (tmp_path / "runs").exists()  # no teacher trained, no cache, no run folder


@no_cuda
@pytest.mark.parametrize(("over", "extra", "words"), [
    ({"device": "cuda"}, [], ("device 'cuda' requested but",)),
    ({}, ["--device", "cuda:1"], ("device 'cuda:1' requested but",)),
    ({"device": "cpu", "executor": {"gpus_per_trial": 0.25}}, [], ("device 'cpu'", "gpus_per_trial is 0.25")),
    ({}, ["--device", "cpu", "--executor", "ray", "--gpus-per-trial", "1"], ("gpus_per_trial is 1",)),
    ({"executor": {"kind": "ray"}}, ["--device", "cuda"], ("Ray executor needs executor.gpus_per_trial > 0",)),
    ({"device": "cuda:2", "executor": {"kind": "ray", "gpus_per_trial": 1}}, [], ("Ray gives each trial its own",)),
    ({"device": "auto", "executor": {"gpus_per_trial": 1}}, [], ("device 'auto' is 'cpu' on this machine",)),
    ({"device": "gpu"}, [], ("device: device 'gpu' is not one of",)),
    ({"objectives": ["accuracy", "latency"], "latency": {"device": "cuda", "backend": "torch"}}, [],
     ("latency.device: device 'cuda' requested but",)),
    # onnxruntime asks its own runtime, not torch, whether it can run on CUDA
    ({"objectives": ["accuracy", "latency"], "latency": {"device": "cuda"}}, [],
     ("latency.device: latency device 'cuda' with backend onnxruntime needs CUDAExecutionProvider",)),
    ({"executor": {"device": "cpu"}}, [], ("executor.device is now the study's top-level 'device'",)),
])
def test_search_refuses_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture, over: dict, extra: list[str],
                                       words: tuple[str, ...]) -> None:
    path = write_study(tmp_path, **over)
    _refused(capsys, ["search", str(path), "--no-progress", "--reports", str(tmp_path / "reports"), *extra], *words)
    _untouched(tmp_path)
    assert not (tmp_path / "reports").exists()


@no_cuda
def test_other_commands_refuse_cuda_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    study = write_study(tmp_path, device="cuda")
    _refused(capsys, ["teacher", "train", str(study)], "device 'cuda' requested but")  # the study's device
    plain = write_study(tmp_path, "plain.yaml")
    _refused(capsys, ["teacher", "train", str(plain), "--device", "cuda"], "device 'cuda' requested but")
    _refused(capsys, ["retrain", str(study), "--front"], "device 'cuda' requested but")
    _refused(capsys, ["retrain", str(plain), "--front", "--device", "cuda:0"], "device 'cuda:0' requested but")
    _refused(capsys, ["distill", "--teacher", "resnet20", "--student", "resnet20", "--data", "digits", "--no-kd",
                      "--device", "cuda"], "device 'cuda' requested but")
    _refused(capsys, ["profile", "resnet20", "--backend", "torch", "--device", "cuda"], "device 'cuda' requested but")
    _refused(capsys, ["profile", "resnet20", "--device", "tpu"], "device 'tpu' is not one of")
    _untouched(tmp_path)


@no_cuda
def test_profile_auto_measures_on_the_cpu_here(capsys: pytest.CaptureFixture) -> None:
    assert main(["profile", "resnet20", "--device", "auto", "--warmup", "0", "--repeats", "1"]) == 0
    assert ", device cpu, batch 1" in capsys.readouterr().out


@no_cuda
def test_an_existing_study_is_left_as_it_was(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import optuna

    from kdnas.study.config import load_study_config
    from kdnas.study.storage import open_study

    path = write_study(tmp_path)
    before = dict(open_study(load_study_config(path)).user_attrs)
    mtime = (tmp_path / "study.db").stat().st_mtime_ns
    _refused(capsys, ["search", str(path), "--device", "cuda", "--no-progress"], "device 'cuda' requested but")
    study = optuna.load_study(study_name="tiny-study", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert study.user_attrs == before and not study.trials
    assert (tmp_path / "study.db").stat().st_mtime_ns == mtime and not (tmp_path / "runs").exists()
