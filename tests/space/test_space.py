"""Search spaces: YAML in, Arch values out; size, sampling, membership and file errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
import torch

from kdnas.arch import Arch, Stage
from kdnas.errors import ConfigError
from kdnas.space import SearchSpace, build_student, load_space

SPACES = sorted((Path(__file__).resolve().parents[2] / "search_spaces").glob("*.yaml"))

SMALL = """\
name: small
stem: [4, 8]
stages:
  - {stride: 1, op: [ir, basic], kernel: [3, 5], expand: [1, 2], width: [4], depth: [1]}
  - {stride: 1, op: [dws, skip, bneck], kernel: [3], expand: [2, 4], width: [4, 8], depth: [1, 2]}
  - {stride: 2, op: [basic, dws], kernel: [3], expand: [1, 3], width: [8], depth: [1, 2]}
head: [0, 16]
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def small(tmp_path: Path) -> SearchSpace:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return load_space(path)


def _brute_force(space: SearchSpace) -> set[Arch]:
    per_stage = []
    for sc in space.stages:
        per_stage.append(
            [Stage.make(*c) for c in itertools.product(sc.op, [sc.stride], sc.kernel, sc.expand, sc.width, sc.depth)]
        )
    return {
        Arch(stem, tuple(stages), head)
        for stem, head in itertools.product(space.stem, space.head)
        for stages in itertools.product(*per_stage)
    }


def test_there_are_spaces_to_load():
    assert {p.stem for p in SPACES} >= {"mbv2", "mixed", "resnet"}


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_each_shipped_space_loads_and_its_smallest_member_builds(path):
    space = load_space(path)
    assert space.name == path.stem
    assert space.size() > 1
    arch = space.smallest()
    assert space.contains(arch)
    assert space.params_of(arch)
    out = build_student(arch, 3, 10)(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    res = space.resolutions((32, 32))
    assert len(res) == len(space.stages) and res[-1] == (8, 8)


def test_size_equals_brute_force_count(small):
    archs = _brute_force(small)
    # stage 0: ir 2k*2e + basic 2k = 6; stage 1: dws 2w*2d + skip + bneck 2e*2w*2d = 13; stage 2: 2 ops * 2d = 4
    assert len(archs) == 2 * 2 * 6 * 13 * 4
    assert small.size() == len(archs)
    assert all(small.contains(a) for a in archs)


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_space_size_matches_per_stage_brute_force(path):
    space = load_space(path)
    per_stage = 1
    for sc in space.stages:
        per_stage *= len({Stage.make(*c) for c in itertools.product(sc.op, [sc.stride], sc.kernel, sc.expand,
                                                                     sc.width, sc.depth)})
    assert space.size() == len(space.stem) * len(space.head) * per_stage


def test_contains_rejects_outsiders(small):
    inside = small.smallest()
    assert small.contains(inside)
    assert not small.contains(Arch(5, inside.stages, inside.head))  # stem not a choice
    assert not small.contains(Arch(inside.stem, inside.stages, 32))  # head not a choice
    assert not small.contains(Arch(inside.stem, inside.stages[:2], inside.head))  # too few stages
    wrong_stride = (inside.stages[0], inside.stages[1], Stage.make("dws", 1, 3, 1, 8, 1))
    assert not small.contains(Arch(inside.stem, wrong_stride, inside.head))
    wrong_width = (Stage.make("ir", 1, 3, 1, 8, 1), *inside.stages[1:])
    assert not small.contains(Arch(inside.stem, wrong_width, inside.head))
    with pytest.raises(ValueError, match="not in space"):
        small.params_of(Arch(5, inside.stages, inside.head))


def test_smallest_uses_skip_where_allowed(small):
    arch = small.smallest()
    assert arch.stem == 4 and arch.head == 0
    assert arch.stages[1].op == "skip"
    assert arch.stages[0] == Stage.make("ir", 1, 3, 1, 4, 1)


def test_suggest_with_optuna_ask_stays_in_space(small):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        arch = small.suggest(trial)
        assert small.contains(arch), arch
        seen.add(arch)
        # Every parameter is suggested on every trial: the space Optuna sees is static.
        assert len(trial.params) == 2 + 5 * len(small.stages)
        study.tell(trial, 0.0)
    assert len(seen) > 40


def test_fixed_trial_of_params_of_gives_back_the_arch(small):
    for arch in sorted(_brute_force(small))[::37]:
        params = small.params_of(arch)
        assert small.suggest(optuna.trial.FixedTrial(params)) == arch
        assert all(v in _choices_of(small, k) for k, v in params.items())


def _choices_of(space: SearchSpace, name: str) -> list:
    if name in ("stem", "head"):
        return getattr(space, name)
    stage, field = name.split(".")
    return getattr(space.stages[int(stage[1:])], field)


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_enqueued_params_reproduce_the_arch_in_a_real_study(path):
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    archs = [space.suggest(study.ask()) for _ in range(5)]
    for arch in archs:
        study.enqueue_trial(space.params_of(arch))
        assert space.suggest(study.ask()) == arch


def test_resolutions(small):
    assert small.strides == (1, 1, 2)
    assert small.resolutions((8, 8)) == [(8, 8), (8, 8), (4, 4)]
    assert small.resolutions((7, 5)) == [(7, 5), (7, 5), (4, 3)]  # 'same' padding rounds up


def test_resolutions_match_built_students(small):
    from kdnas.teachers import stage_shapes

    arch = small.smallest()
    shapes = stage_shapes(build_student(arch, 1, 3), (1, 7, 5))
    assert [s[1:] for s in shapes] == small.resolutions((7, 5))


STAGE0 = "  - {stride: 1, op: [ir], width: [4]}\n"


@pytest.mark.parametrize(
    "stage, field, words",
    [
        ("{stride: 1, op: [ir, conv], width: [4]}", "stages.1.op", "unknown block op 'conv'"),
        ("{stride: 2, op: [ir, skip], width: [4]}", "stages.1.op", "stride 1"),
        ("{stride: 1, op: [skip], width: [4]}", "stages.1.op", "skip"),
        ("{stride: 1, op: [], width: [4]}", "stages.1.op", "at least one choice"),
        ("{stride: 1, op: [ir], width: []}", "stages.1.width", "at least one choice"),
        ("{stride: 1, op: [ir], kernel: [3, 4], width: [4]}", "stages.1.kernel", "odd numbers (got [3, 4])"),
        ("{stride: 1, op: [ir], width: [4], colour: red}", "stages.1.colour", "unknown field"),
        ("{stride: 1, op: [ir], width: [8, -4]}", "stages.1.width", ">= 1 (got [8, -4])"),
        ("{stride: 1, op: [ir], width: [4], depth: [0]}", "stages.1.depth", ">= 1 (got [0])"),
        ("{stride: 3, op: [ir], width: [4]}", "stages.1.stride", "1 or 2 (got 3)"),
        ("{stride: 1, op: [ir], width: [4, 4]}", "stages.1.width", "repeat"),
    ],
)
def test_stage_errors_name_file_and_field(tmp_path, stage, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nstem: [4]\nstages:\n{STAGE0}  - {stage}\n")
    with pytest.raises(ConfigError) as info:
        load_space(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {field}: "), msg
    assert words in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "top, field, words",
    [
        ("stem: [-8]", "stem", ">= 1"),
        ("stem: [8]\nhead: [-1]", "head", ">= 0"),
        ("stem: [8]\nextra: 1", "extra", "unknown field"),
        ("stem: []", "stem", "at least one choice"),
    ],
)
def test_top_level_errors_name_file_and_field(tmp_path, top, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\n{top}\nstages:\n{STAGE0}")
    with pytest.raises(ConfigError) as info:
        load_space(path)
    assert str(info.value).startswith(f"{path}: {field}: ")
    assert words in str(info.value)


def test_no_stages_and_missing_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("name: e\nstem: [4]\nstages: []\n")
    with pytest.raises(ConfigError, match=f"{path}: stages: "):
        load_space(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_space(tmp_path / "missing.yaml")


def test_input_widths_follow_skips_and_match_built_students(small):
    # stage 0 is entered by the stem; stage 1 by stage 0's 4; stage 2 by 4 or 8, or by 4 past a skip
    assert small.input_widths() == (frozenset({4, 8}), frozenset({4}), frozenset({4, 8}), frozenset({8}))
    # every member's stages really are entered by one of those widths
    for arch in _brute_force(small):
        width = arch.stem
        for j, st in enumerate(arch.stages):
            assert width in small.input_widths()[j]
            width = st.width if st.op != "skip" else width
        assert width in small.input_widths()[-1]
