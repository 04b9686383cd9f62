"""The configuration reference: docs/configuration.md is what the models generate, for any model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kdnas.reference import collect, render
from kdnas.study.config import StudyConfig

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_committed_page_is_what_the_models_generate() -> None:
    assert PAGE.read_text() == render(StudyConfig), (
        "docs/configuration.md is out of date with the config models; regenerate it with "
        "`python -m kdnas.reference > docs/configuration.md`")


class _Knobs(BaseModel):
    """Expert settings.

    How they were tuned, for developers."""

    jitter: float = Field(0.5, ge=0, lt=1, description="how much to shake")


class _Leaf(BaseModel):
    """A leaf."""

    size: int = Field(3, gt=0)
    knobs: _Knobs = _Knobs()


class _Flagged(BaseModel):
    """Flagged by its config."""

    model_config = ConfigDict(json_schema_extra={"advanced": True})

    depth: int = 1


class _Root(BaseModel):
    """The root."""

    name: str
    mode: Literal["fast", "slow"] = "fast"
    leaf: _Leaf | None = None
    leaves: list[_Leaf] = []
    by_name: dict[str, _Leaf] = {}
    advanced: _Knobs = _Knobs()
    flagged: _Flagged = _Flagged()
    tags: tuple[str, ...] = ("a", "b")


def test_every_model_once_depth_first_with_every_path() -> None:
    sections = collect(_Root)
    assert [s.model for s in sections] == [_Root, _Leaf, _Knobs, _Flagged]
    assert sections[1].paths == ["leaf", "leaves", "by_name"]
    # _Knobs sits under leaf.knobs (not advanced) and under `advanced`: not advanced everywhere
    assert sections[2].paths == ["leaf.knobs", "advanced"] and not sections[2].advanced
    assert sections[3].advanced


def test_page_gives_type_bounds_default_description_and_advanced_marks() -> None:
    page = render(_Root, title="Toy")
    assert page.startswith("# Toy\n")
    assert "| `name` | str | **required** |  |" in page
    assert "| `mode` | `fast` \\| `slow` | `fast` |  |" in page
    assert "| `leaf` | [_Leaf](#_leaf) \\| null | `null` |  |" in page
    assert "| `jitter` | float (≥ 0, < 1) | `0.5` | how much to shake |" in page
    assert "| `tags` | list of str | `[\"a\", \"b\"]` |  |" in page
    assert "| `advanced` | [_Knobs](#_knobs) | (its defaults) | advanced. |" in page
    assert "## `flagged` (advanced)" in page and "## `leaf`, `leaves`, `by_name`\n" in page
    assert page.count('<a id="_leaf"></a>') == 1
    assert "Expert settings." in page and "for developers" not in page  # the summary paragraph only
