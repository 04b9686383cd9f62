"""Open any search-space file: block-wise YAML (the default) or ``kind: nni`` (an NNI model space)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from kdnas.space.space import SearchSpace, load_space
from kdnas.yamlio import read_yaml

if TYPE_CHECKING:
    from kdnas.space.nni_space import NniSpace

AnySpace = Union[SearchSpace, "NniSpace"]


def open_space(path: Path) -> AnySpace:
    """Load and validate the space file at `path` (errors are one ConfigError line naming it).

    A file with ``kind: nni`` is an NNI model space: its factory is imported here (so a missing
    module is reported before anything runs) and the space is built by `bind_space` once the
    data's channels and classes are known. nni itself is imported only for such a file.
    """
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data, dict) and data.get("kind") == "nni":
        from kdnas.space.nni_space import load_nni_space

        return load_nni_space(data, path)
    return load_space(path)


def bind_space(space: AnySpace, in_channels: int, num_classes: int) -> AnySpace:
    """The space ready for data of `in_channels` and `num_classes` (NNI spaces are built here)."""
    if space.kind == "nni":
        return space.bind(in_channels, num_classes)  # type: ignore[union-attr]
    return space


def student_builder(path: Path, in_channels: int, num_classes: int):  # noqa: ANN201 - StudentBuilder
    """The builder (text -> network) of the space in `path` (retrain, export)."""
    return bind_space(open_space(path), in_channels, num_classes).builder()
