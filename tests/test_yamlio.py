"""YAML loading: every problem is one ConfigError line naming the file (and line or field)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from kdnas.errors import ConfigError
from kdnas.yamlio import format_validation_error, load_yaml_model, read_yaml, validate


class Inner(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    steps: int = pydantic.Field(1, gt=0)


class Outer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    proxy: Inner = Inner()

    @pydantic.field_validator("name")
    @classmethod
    def _no_spaces(cls, v: str) -> str:
        if " " in v:
            raise ValueError("no spaces allowed")
        return v


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_reads_valid_yaml(tmp_path):
    path = _write(tmp_path, "name: x\nproxy: {steps: 3}\n")
    assert read_yaml(path) == {"name": "x", "proxy": {"steps": 3}}
    assert load_yaml_model(Outer, path).proxy.steps == 3


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "name: x\nproxy:\n  steps: 3\n  bad: [1, 2\nother: 1\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    msg = str(info.value)
    assert str(path) in msg and "not valid YAML" in msg
    assert "(line 5)" in msg or "(line 4)" in msg
    assert "\n" not in msg


def test_invalid_yaml_line_number_is_the_offending_line(tmp_path):
    path = _write(tmp_path, "a: 1\nb: 2\nc: 3\n\td: 4\n")  # a tab on line 4
    with pytest.raises(ConfigError, match=r"\(line 4\)"):
        read_yaml(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_yaml(tmp_path / "nope.yaml")


def test_nested_field_error_is_one_line_with_got(tmp_path):
    path = _write(tmp_path, "name: x\nproxy: {steps: -5}\n")
    with pytest.raises(ConfigError) as info:
        load_yaml_model(Outer, path)
    assert str(info.value) == f"{path}: proxy.steps: Input should be greater than 0 (got -5)"


def test_value_error_prefix_is_dropped():
    with pytest.raises(ConfigError) as info:
        validate(Outer, {"name": "a b"}, "s.yaml")
    assert str(info.value) == "s.yaml: name: no spaces allowed (got 'a b')"


def test_unknown_field_and_missing_field_have_no_got():
    with pytest.raises(ConfigError) as info:
        validate(Outer, {"name": "x", "nmae": 1}, "s.yaml")
    assert str(info.value) == "s.yaml: nmae: unknown field"
    with pytest.raises(ConfigError) as info:
        validate(Outer, {"proxy": {"steps": 1}}, "s.yaml")
    assert str(info.value) == "s.yaml: name: Field required"


def test_more_problems_are_counted():
    try:
        Outer.model_validate({"name": 3, "proxy": {"steps": 0}, "zz": 1})
    except pydantic.ValidationError as err:
        line = format_validation_error("f.yaml", err)
    else:  # pragma: no cover
        pytest.fail("expected a validation error")
    assert line.startswith("f.yaml: ")
    assert line.endswith("[and 2 more problem(s)]")
    assert "\n" not in line


def test_top_level_must_be_a_mapping(tmp_path):
    for text in ("", "- 1\n- 2\n", "just a string\n"):
        path = _write(tmp_path, text)
        with pytest.raises(ConfigError, match=f"{path}: expected a mapping"):
            load_yaml_model(Outer, path)
