"""Bring-your-own teachers: module:function factories, and the spec that names them."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from kdnas.errors import ConfigError
from kdnas.teachers import TeacherSpec, build_model, feature_modules, load_factory, stage_shapes

GEOM = {"num_classes": 5, "in_channels": 1, "input_size": (8, 8)}

MODULE = textwrap.dedent(
    """
    from torch import nn

    def tiny(num_classes, width=4):
        # takes neither in_channels nor input_size: kdnas passes only what a factory accepts
        return nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, num_classes),
        )

    def sized(*, num_classes, in_channels, input_size, **kwargs):
        return nn.Linear(in_channels * input_size[0] * input_size[1], num_classes)

    def not_a_model(num_classes):
        return 42

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_teachers.py").write_text(MODULE)
    (tmp_path / "broken_teachers.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_teachers"


def test_load_factory(user_module):
    fn = load_factory(f"{user_module}:tiny")
    assert fn(num_classes=3)[-1].out_features == 3


def test_factory_teacher(user_module):
    spec = TeacherSpec(name=f"{user_module}:tiny", kwargs={"width": 8}, feature_modules=("1", "3"))
    model = build_model(spec, **GEOM)
    assert model[0].out_channels == 8
    assert feature_modules(model) == ("1", "3")
    assert stage_shapes(model, (1, 8, 8)) == [(8, 8, 8), (16, 4, 4)]
    assert build_model(TeacherSpec(name=f"{user_module}:sized"), **GEOM).in_features == 64


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_colon_here.x", "not of the form"),
        ("my_teachers:", "not of the form"),
        ("my teachers:tiny", "not of the form"),
        ("nonexistent_pkg_xyz.mod:fn", "no module named 'nonexistent_pkg_xyz.mod'"),
        ("broken_teachers:fn", "importing 'broken_teachers' failed"),
        ("my_teachers:missing", "has no attribute 'missing'"),
        ("my_teachers:NOT_CALLABLE", "is not callable"),
    ],
)
def test_bad_targets(user_module, target, message):
    with pytest.raises(ConfigError, match=message) as exc:
        load_factory(target)
    assert "\n" not in str(exc.value)


def test_factory_errors_at_build(user_module):
    with pytest.raises(ConfigError, match="takes no option 'depth'"):
        build_model(TeacherSpec(name=f"{user_module}:tiny", kwargs={"depth": 3}), **GEOM)
    with pytest.raises(ConfigError, match="not an nn.Module"):
        build_model(TeacherSpec(name=f"{user_module}:not_a_model"), **GEOM)
    with pytest.raises(ConfigError, match="has no module 'nope'"):
        build_model(TeacherSpec(name=f"{user_module}:tiny", feature_modules=("nope",)), **GEOM)
    with pytest.raises(ConfigError, match="has no feature_modules"):
        feature_modules(build_model(TeacherSpec(name=f"{user_module}:tiny"), **GEOM))


def test_spec_validation():
    spec = TeacherSpec(name="resnet20", kwargs={"a": 1, "b": True, "c": 0.5, "d": "x"})
    assert spec.kwargs == {"a": 1, "b": True, "c": 0.5, "d": "x"}
    assert type(spec.kwargs["b"]) is bool
    with pytest.raises(ValidationError, match="unknown teacher 'resnet999'"):
        TeacherSpec(name="resnet999")
    with pytest.raises(ValidationError, match="not of the form"):
        TeacherSpec(name="a b:c")
    with pytest.raises(ValidationError):
        TeacherSpec(name="resnet20", extra_field=1)
    with pytest.raises(ValidationError):
        TeacherSpec(name="resnet20", kwargs={"a": [1, 2]})
    with pytest.raises(ValidationError):
        spec.name = "resnet56"  # frozen
