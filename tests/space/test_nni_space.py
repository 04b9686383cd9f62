"""NNI model spaces searched by kdnas: mutables -> Optuna, freeze -> student, hub spaces, the CLI.

Runs only where nni 3.0 is importable (`make setup` installs it; CI runs these).
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch
import yaml

pytest.importorskip("nni", reason="nni 3.0 is not installed (make setup installs it: extra `nni` + nni --no-deps)")

from kdnas.cost import LatencySpec, count_macs_params, measure_latency  # noqa: E402
from kdnas.errors import ConfigError, TrialFailure  # noqa: E402
from kdnas.space import bind_space, open_space, sample_random  # noqa: E402
from kdnas.study.config import config_from_dict  # noqa: E402
from kdnas.study.setup import prepare  # noqa: E402
from tests.studykit import study_dict, write_study  # noqa: E402
from tests.test_cli import ROOT, assert_user_error, kdnas  # noqa: E402


def space_file(tmp: Path, factory: str, name: str = "nni.yaml", **args) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump({"kind": "nni", "name": "nni-" + factory.rsplit(":", 1)[1].lower(),
                                    "factory": factory, "args": args}))
    return path


def test_mutables_become_parameters_and_text_is_the_freeze_sample(tmp_path: Path) -> None:
    space = bind_space(open_space(space_file(tmp_path, "tests.space.nni_spaces:TinyNet")), 1, 10)
    assert space.kind == "nni" and space.size() == 18  # 3 widths x 3 kernels x 2 activations
    build = space.builder()
    seen = {"ok": 0, "rejected": 0, "outside": 0}
    for text in sample_random(space, 25):
        sample = json.loads(text)
        assert text == json.dumps(sample, sort_keys=True, separators=(",", ":"))  # canonical: sorted, compact
        assert set(sample) == {"width", "kernel", "act"}
        try:
            model = build(text, 1, 10)
        except TrialFailure as err:
            if sample["width"] + sample["kernel"] > 13:  # NNI's constraint, checked before freeze
                assert "sample outside the NNI space: ConstraintViolation" in str(err)
                seen["outside"] += 1
            else:  # freeze raises in TinyNet.__init__
                assert sample["kernel"] == 4 and "NNI freeze rejected the sample: ValueError: even kernel 4" in str(err)
                seen["rejected"] += 1
            continue
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
        assert model.conv.out_channels == sample["width"]
        seen["ok"] += 1
    assert all(seen.values()), seen


def test_tuple_choices_by_index_and_float_ranges(tmp_path: Path) -> None:
    space = bind_space(open_space(space_file(tmp_path, "tests.space.nni_spaces:MixedNet")), 3, 10)
    assert space.size() is None  # a continuous parameter
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    text = str(space.suggest(trial))
    assert trial.params["kernel"] in (0, 1) and 0.0 <= trial.params["dropout"] <= 0.5
    model = space.builder()(text, 3, 10)
    assert model.conv.kernel_size == [(1, 1), (3, 3)][trial.params["kernel"]]
    assert model.drop.p == pytest.approx(trial.params["dropout"])


def test_unbounded_parameter_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="numerical 'p' needs finite low and high"):
        bind_space(open_space(space_file(tmp_path, "tests.space.nni_spaces:NormalNet")), 3, 10)


@pytest.mark.parametrize("method", ["hint", "blockwise"])
def test_stagewise_proxies_are_refused_before_anything_runs(tmp_path: Path, method: str) -> None:
    cfg = config_from_dict(study_dict(tmp_path, space=str(space_file(tmp_path, "tests.space.nni_spaces:TinyNet")),
                                      proxy={"method": method, "steps": 5}))
    with pytest.raises(ConfigError, match=f"'{method}' needs stages aligned"):
        prepare(cfg, verbose=False)


def test_hub_proxylessnas_builds_freezes_and_profiles_at_cifar_resolution(tmp_path: Path) -> None:
    path = space_file(tmp_path, "nni.nas.hub.pytorch:ProxylessNAS", width_mult=0.25, dropout_rate=0.0)
    space = bind_space(open_space(path), 3, 10)
    assert space.size() == 4**5 * 6**21  # depths of stages 2-6, kernel/expansion of 21 blocks
    (text,) = sample_random(space, 1, seed=3)
    model = space.builder()(text, 3, 10).eval()
    assert not any(hasattr(m, "simplify") for m in model.modules() if m is not model)  # plain torch layers
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    macs, params = count_macs_params(model, (3, 32, 32))
    assert 0.5e6 < macs < 50e6 and 10e3 < params < 2e6, (macs, params)
    lat = measure_latency(model, (3, 32, 32), LatencySpec(warmup=1, repeats=3))
    assert lat.median_ms > 0
    assert space.builder()(text, 3, 10).state_dict().keys() == model.state_dict().keys()  # same text, same net


def test_missing_space_module_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write_study(tmp_path, space=str(space_file(tmp_path, "no_such_pkg.spaces:Net")))
    assert_user_error(kdnas("search", str(path), cwd=tmp_path), "nni.yaml", "no module named 'no_such_pkg.spaces'")
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow
def test_search_a_user_nni_space_end_to_end(tmp_path: Path, teacher_ckpt: Path) -> None:
    path = write_study(tmp_path, space=str(space_file(tmp_path, "tests.space.nni_spaces:TinyNet")),
                       teacher={"name": "resnet20", "checkpoint": str(teacher_ckpt)}, budget={"trials": 2})
    env = {"PYTHONPATH": str(ROOT)}  # the user's space module must be importable, as any factory
    proc = kdnas("search", str(path), "--no-progress", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "is found to be not a nn.Module" not in proc.stderr
    import pandas as pd

    trials = pd.read_csv(tmp_path / "reports" / "tiny-study" / "trials.csv")
    assert (trials["status"] == "ok").sum() == 2  # the budget counts students trained; unbuildable samples take no place
    for _, t in trials[trials["status"] == "failed"].iterrows():  # rejected samples failed alone, with why
        assert "even kernel 4" in t["reason"] or "outside the NNI space" in t["reason"]
    first_ok = trials[trials["status"] == "ok"].iloc[0]
    out = tmp_path / "sample.json"
    proc = kdnas("export", str(path), "--trial", str(first_ok["trial"]), "--nni", "--out", str(out), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    sample = json.loads(out.read_text())
    assert sample == json.loads(first_ok["arch"])
    from tests.space.nni_spaces import TinyNet

    assert TinyNet(num_classes=10, in_channels=1).freeze(sample).conv.out_channels == sample["width"]
    # The found student is retrained with distillation and shipped like any block-wise one.
    proc = kdnas("retrain", str(path), "--trial", str(first_ok["trial"]), "--epochs", "1", "--export",
                 cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    cards = list((tmp_path / "runs").rglob("model_card.json"))
    assert len(cards) == 1 and (cards[0].parent / "model.onnx").is_file() and (cards[0].parent / "model.ts").is_file()
    card = json.loads(cards[0].read_text())
    assert json.loads(card["arch"]) == sample and card["onnx_max_abs_diff"] <= 1e-4 and card["test_acc_kd"] > 0.1
