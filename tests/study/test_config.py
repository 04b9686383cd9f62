"""Study config validation: the demo loads; each kind of mistake names file, field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kdnas.errors import ConfigError
from kdnas.study.config import load_study_config, parse_count

from tests.studykit import write_study

ROOT = Path(__file__).resolve().parents[2]


def test_demo_study_loads_with_resolved_paths() -> None:
    cfg = load_study_config(ROOT / "studies" / "demo-digits.yaml")
    assert cfg.name == "demo-digits"
    assert cfg.space.is_file() and cfg.space.name == "mbv2.yaml"
    assert cfg.constraints.max_macs == 600_000
    assert cfg.objectives == ["score", "macs"]
    assert cfg.storage_url.endswith("kdnas.db")


def test_accuracy_as_the_first_objective_still_loads_as_score(tmp_path: Path) -> None:
    """`accuracy` was the first objective's old name (it held the proxy's score): users' files keep working."""
    cfg = load_study_config(write_study(tmp_path, objectives=["accuracy", "macs", "params"]))
    assert cfg.objectives == ["score", "macs", "params"]
    assert cfg.resolved()["objectives"] == ["score", "macs", "params"]


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"budget": {"trials": -3}}, "budget.trials", "greater than 0"),
        ({"proxy": {"method": "kd", "steps": -5}}, "proxy.steps", "greater than 0"),
        ({"proxy": {"method": "kd"}}, "proxy", "exactly one budget"),
        ({"proxy": {"method": "kd", "steps": 5, "lr": 0.1}}, "proxy", "add 'optimizer: sgd' or 'optimizer: adamw'"),
        ({"proxy": {"method": "magic", "steps": 5}}, "proxy.method", "'kd', 'hint', 'ce', 'blockwise' or 'similarity'"),
        ({"proxy": {"method": "similarity", "steps": 5}}, "proxy", "its KD steps are 'similarity.steps'"),
        ({"proxy": {"method": "similarity", "advanced": {"score": "val_loss"}}}, "proxy",
         "ranked by the similarity: remove 'advanced.score'"),
        ({"proxy": {"method": "similarity", "similarity": {"measure": "cosine"}}}, "proxy.similarity.measure",
         "'cka', 'rsa' or 'diswot'"),
        ({"proxy": {"method": "similarity", "similarity": {"probe_size": 2}}}, "proxy.similarity.probe_size",
         "greater than or equal to 4"),
        ({"proxy": {"method": "similarity", "similarity": {"steps": -1}}}, "proxy.similarity.steps",
         "greater than or equal to 0"),
        ({"objectives": ["macs", "score"]}, "objectives", "first objective must be 'score'"),
        ({"objectives": ["score"]}, "objectives", "one or two"),
        ({"budget": {"max_failures": 0}}, "budget.max_failures", "greater than 0"),
        ({"budget": {"advanced": {"max_useless_samples": 0}}}, "budget.advanced.max_useless_samples", "greater than 0"),
        ({"sampler": {"name": "cmaes"}}, "sampler.name", "'tpe', 'nsga2' or 'random'"),
        ({"constraints": {"max_macs": "lots"}}, "constraints.max_macs", "600K"),
        ({"space": "nope.yaml"}, "space", "not found"),
        ({"data": {"name": "imagenet"}}, "data.name", "digits"),
        ({"teacher": {"name": "resnet9000"}}, "teacher", "resnet9000"),
        ({"surprise": 1}, "surprise", "unknown field"),
        ({"device": "gpu"}, "device", "is not one of auto, cpu, cuda, cuda:N or mps"),
        ({"executor": {"device": "cuda"}}, "executor", "top-level 'device' (write `device: cuda`"),
        ({"latency": {"device": "auto"}}, "latency.device", "named, not 'auto'"),
    ],
)
def test_bad_fields_name_file_and_field(tmp_path: Path, over: dict, field: str, words: str) -> None:
    path = write_study(tmp_path, **over)
    with pytest.raises(ConfigError) as err:
        load_study_config(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {field}"), msg
    assert words in msg, msg


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_study_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study_config(bad)


def test_relative_space_resolves_against_study_folder(tmp_path: Path) -> None:
    sub = tmp_path / "studies"
    sub.mkdir()
    path = write_study(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["space"] = "../tiny.yaml"
    (sub / "s.yaml").write_text(yaml.safe_dump(data))
    assert load_study_config(sub / "s.yaml").space == sub / "../tiny.yaml"


@pytest.mark.parametrize(("text", "value"), [("600K", 600_000), ("1.5M", 1_500_000), ("6e5", 600_000),
                                             (2.5e6, 2_500_000), (42, 42), ("2G", 2_000_000_000)])
def test_parse_count(text: object, value: int) -> None:
    assert parse_count(text) == value


def test_device_defaults_to_auto_and_is_stored_as_written(tmp_path: Path) -> None:
    cfg = load_study_config(write_study(tmp_path))
    assert cfg.device == "auto" and cfg.resolved()["device"] == "auto"  # resolved per run, not per study
    assert "device" not in cfg.resolved()["executor"]
    assert load_study_config(write_study(tmp_path, "gpu.yaml", device="CUDA:1")).resolved()["device"] == "cuda:1"


def test_search_strategy_defaults_to_plain_and_halving_needs_a_training_proxy(tmp_path: Path) -> None:
    assert load_study_config(write_study(tmp_path)).search.strategy == "plain"
    cfg = load_study_config(write_study(tmp_path, search={"strategy": "halving", "min_steps": 5, "eta": 2}))
    assert (cfg.search.strategy, cfg.search.min_steps, cfg.search.eta) == ("halving", 5, 2)
    with pytest.raises(ConfigError, match="eta"):
        load_study_config(write_study(tmp_path, search={"strategy": "halving", "eta": 1}))
    with pytest.raises(ConfigError, match="needs proxy.method kd, hint or ce"):
        load_study_config(write_study(tmp_path, search={"strategy": "halving"},
                                      proxy={"method": "similarity", "batch_size": 64}))
