"""What the search needs of a search space, whatever describes it (block-wise YAML, NNI).

A space samples a *key* with an Optuna trial; ``str(key)`` is the architecture's canonical text,
the key of every cache and record. Everything after sampling (costs, proxy, executors, reports,
retrain) only handles that text and turns it back into a network with a `StudentBuilder`, which
is small and picklable so remote workers can rebuild students without the driver's objects.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn


class TrialLike(Protocol):
    """What `suggest` needs of an Optuna trial (an `optuna.Trial` or a fixed one)."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@runtime_checkable
class StudentBuilder(Protocol):
    """Turns canonical architecture text into an untrained network (picklable, shipped to workers)."""

    def __call__(self, text: str, in_channels: int, num_classes: int) -> nn.Module: ...


class Space(Protocol):
    """A search space as the search loop sees it."""

    name: str
    kind: str  # "blocks" | "nni"

    def size(self) -> int | None:
        """Number of distinct samples, or None when a parameter is continuous."""
        ...

    def suggest(self, trial: Any) -> Any:
        """Sample with an Optuna trial; the result's ``str()`` is the canonical text."""
        ...

    def builder(self) -> StudentBuilder:
        """The builder of this space's students."""
        ...

    def resolutions(self, input_hw: tuple[int, int]) -> list[tuple[int, int]] | None:
        """Spatial size of each stage output (for stage-wise losses), or None when unknown."""
        ...
