"""A block-wise search space: data in `search_spaces/*.yaml`, sampled by Optuna, built by `builder`.

Every stage lists its choices of block op, kernel, expansion, width and depth; its stride is
fixed so that the student's stage resolutions line up with the teacher's. Every parameter is
suggested on every trial (even ones a chosen op ignores) so the space Optuna sees is static,
which multivariate TPE and NSGA-II need; `Stage.make` then canonicalises the choice.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from torch import nn

from kdnas.arch import OPS, Arch, Stage
from kdnas.space.builder import build_student
from kdnas.space.protocol import TrialLike
from kdnas.yamlio import load_yaml_model


@dataclass(frozen=True)
class BlockBuilder:
    """Builds block-wise students from their canonical `Arch` text (the default builder)."""

    def __call__(self, text: str, in_channels: int, num_classes: int) -> nn.Module:
        return build_student(Arch.from_str(text), in_channels, num_classes)


def _choices(values: list[int]) -> list[int]:
    if not values:
        raise ValueError("needs at least one choice")
    if len(set(values)) != len(values):
        raise ValueError("choices repeat")
    return values


class StageChoices(BaseModel):
    """The choices of one stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stride: int = Field(1, description="stride of the stage's first block (1 or 2)")
    op: list[str]
    kernel: list[int] = [3]
    expand: list[int] = [1]
    width: list[int]
    depth: list[int] = [1]

    @field_validator("op")
    @classmethod
    def _known_ops(cls, ops: list[str], info: ValidationInfo) -> list[str]:
        for op in ops:
            if op not in OPS:
                raise ValueError(f"unknown block op '{op}'; allowed: {', '.join(OPS)}")
        # Checked here, not after the model, so the error names `stages.<i>.op` (stride comes first).
        if "skip" in ops and info.data.get("stride", 1) != 1:
            raise ValueError("'skip' is only allowed in a stage with stride 1")
        if ops == ["skip"]:
            raise ValueError("a stage whose only op is 'skip' is not a stage; remove it")
        return _choices(ops)

    @field_validator("kernel")
    @classmethod
    def _odd_kernels(cls, ks: list[int]) -> list[int]:
        if any(k < 1 or k % 2 == 0 for k in ks):
            raise ValueError("kernels must be positive odd numbers")
        return _choices(ks)

    @field_validator("expand", "width", "depth")
    @classmethod
    def _positive(cls, vs: list[int]) -> list[int]:
        if any(v < 1 for v in vs):
            raise ValueError("choices must be >= 1")
        return _choices(vs)

    @field_validator("stride")
    @classmethod
    def _stride_one_or_two(cls, stride: int) -> int:
        # A field validator so the error names `stages.<i>.stride`; yamlio appends the value.
        if stride not in (1, 2):
            raise ValueError("stride must be 1 or 2")
        return stride

    def distinct(self) -> set[Stage]:
        """All canonical stages this stage's choices can produce."""
        return {
            Stage.make(op, self.stride, k, e, w, d)
            for op, k, e, w, d in itertools.product(self.op, self.kernel, self.expand, self.width, self.depth)
        }


class SearchSpace(BaseModel):
    """A block-wise search space: stem, stages, head."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["blocks"] = Field("blocks", description="'blocks' (this file) or 'nni' (an NNI model space)")
    name: str
    description: str = ""
    stem: list[int] = Field(description="choices of stem width")
    stages: list[StageChoices] = Field(min_length=1)
    head: list[int] = [0]

    @field_validator("stem")
    @classmethod
    def _stem_positive(cls, vs: list[int]) -> list[int]:
        if any(v < 1 for v in vs):
            raise ValueError("stem widths must be >= 1")
        return _choices(vs)

    @field_validator("head")
    @classmethod
    def _head_nonneg(cls, vs: list[int]) -> list[int]:
        if any(v < 0 for v in vs):
            raise ValueError("head widths must be >= 0 (0 = no head conv)")
        return _choices(vs)

    @property
    def strides(self) -> tuple[int, ...]:
        """Fixed stride of each stage."""
        return tuple(s.stride for s in self.stages)

    def size(self) -> int:
        """Number of distinct architectures (after canonicalisation) the space holds."""
        per_stage = [len(s.distinct()) for s in self.stages]
        return len(self.stem) * len(self.head) * math.prod(per_stage)

    def suggest(self, trial: TrialLike) -> Arch:
        """Sample an architecture with an Optuna trial (all parameters are always suggested)."""
        stem = trial.suggest_categorical("stem", self.stem)
        stages = []
        for i, sc in enumerate(self.stages):
            op = trial.suggest_categorical(f"s{i}.op", sc.op)
            k = trial.suggest_categorical(f"s{i}.kernel", sc.kernel)
            e = trial.suggest_categorical(f"s{i}.expand", sc.expand)
            w = trial.suggest_categorical(f"s{i}.width", sc.width)
            d = trial.suggest_categorical(f"s{i}.depth", sc.depth)
            stages.append(Stage.make(op, sc.stride, k, e, w, d))
        head = trial.suggest_categorical("head", self.head)
        return Arch(stem, tuple(stages), head)

    def builder(self) -> BlockBuilder:
        """The builder of this space's students (text -> network)."""
        return BlockBuilder()

    def params_of(self, arch: Arch) -> dict[str, Any]:
        """Optuna parameters that produce `arch` (for enqueueing a known architecture)."""
        if not self.contains(arch):
            raise ValueError(f"architecture {arch} is not in space '{self.name}'")
        params: dict[str, Any] = {"stem": arch.stem, "head": arch.head}
        for i, (sc, st) in enumerate(zip(self.stages, arch.stages)):
            if st.op == "skip":
                params.update({f"s{i}.op": "skip", f"s{i}.kernel": sc.kernel[0], f"s{i}.expand": sc.expand[0],
                               f"s{i}.width": sc.width[0], f"s{i}.depth": sc.depth[0]})
            else:
                expand = st.expand if st.expand in sc.expand else sc.expand[0]
                params.update({f"s{i}.op": st.op, f"s{i}.kernel": st.kernel, f"s{i}.expand": expand,
                               f"s{i}.width": st.width, f"s{i}.depth": st.depth})
        return params

    def contains(self, arch: Arch) -> bool:
        """Whether `arch` is one of this space's architectures."""
        if arch.stem not in self.stem or arch.head not in self.head or len(arch.stages) != len(self.stages):
            return False
        return all(st in sc.distinct() for sc, st in zip(self.stages, arch.stages))

    def smallest(self) -> Arch:
        """A cheap member: smallest choices everywhere (skip where allowed). Handy for tests."""
        stages = tuple(
            Stage.make("skip" if "skip" in sc.op else sc.op[0], sc.stride, min(sc.kernel), min(sc.expand),
                       min(sc.width), min(sc.depth))
            for sc in self.stages
        )
        return Arch(min(self.stem), stages, min(self.head))

    def input_widths(self) -> tuple[frozenset[int], ...]:
        """The channel counts that can enter each stage (the width of the last non-skip stage before
        it, or the stem's), then those that can enter the head: one set per stage, then one more.
        What a stage costs depends on its input width, so per-part tables are keyed by it."""
        reachable = frozenset(self.stem)
        out = []
        for sc in self.stages:
            out.append(reachable)
            widths = frozenset(sc.width) if any(op != "skip" for op in sc.op) else frozenset()
            reachable = widths | (reachable if "skip" in sc.op else frozenset())
        return (*out, reachable)

    def resolutions(self, input_hw: tuple[int, int]) -> list[tuple[int, int]]:
        """Spatial size of each stage's output for an input of `input_hw` ('same' padding)."""
        h, w = input_hw
        out = []
        for s in self.strides:
            h, w = math.ceil(h / s), math.ceil(w / s)
            out.append((h, w))
        return out


def load_space(path: Path) -> SearchSpace:
    """Load and validate a search-space YAML file (errors name the file and the field)."""
    return load_yaml_model(SearchSpace, Path(path))
