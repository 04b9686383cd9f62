"""The architecture value type: a student as a list of stages, with one canonical text form.

An `Arch` is immutable and hashable; `str(arch)` is its canonical text, the key of every cache
and the value written to the study, the reports and the model card. The text is a sequence of
tokens joined by ``-`` (timm-style block strings)::

    stem_c16-ir_s1_k3_e1_c16_d1-ir_s2_k5_e6_c24_d2-skip-basic_s2_k3_e1_c64_d1-head_c0

- ``stem_c<W>``: a 3x3 conv + BN + ReLU with W output channels (stride 1).
- one token per stage: ``<op>_s<stride>_k<kernel>_e<expand>_c<width>_d<depth>``, or ``skip``
  (the stage is the identity; only allowed where the stage's stride is 1).
- ``head_c<W>``: an optional 1x1 conv to W channels before pooling (``head_c0`` = none).

Choices an op ignores are canonicalised (``basic`` and ``dws`` have no expansion, so ``e1``),
so two samples that build the same network have the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdnas.errors import ConfigError

#: Block ops and whether the expansion ratio means anything for them.
OPS: dict[str, bool] = {
    "ir": True,  # inverted residual (MobileNetV2): 1x1 expand, kxk depthwise, 1x1 project
    "dws": False,  # depthwise separable (MobileNetV1): kxk depthwise, 1x1 pointwise
    "basic": False,  # ResNet basic block: two kxk convs
    "bneck": True,  # ResNet bottleneck: 1x1 to width*expand/4, kxk, 1x1 to width
    "skip": False,  # identity stage
}

_STAGE_RE = re.compile(r"^(?P<op>[a-z]+)_s(?P<s>\d+)_k(?P<k>\d+)_e(?P<e>\d+)_c(?P<c>\d+)_d(?P<d>\d+)$")
_STEM_RE = re.compile(r"^stem_c(?P<c>\d+)$")
_HEAD_RE = re.compile(r"^head_c(?P<c>\d+)$")


@dataclass(frozen=True, order=True)
class Stage:
    """One stage: `depth` blocks of `op`; the first block has `stride`, the rest stride 1.

    A ``skip`` stage is the identity: its other fields are fixed (stride 1, width 0, depth 0) so
    that every skip stage is equal to every other.
    """

    op: str
    stride: int = 1
    kernel: int = 3
    expand: int = 1
    width: int = 0
    depth: int = 0

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ConfigError(f"unknown block op '{self.op}'; allowed: {', '.join(OPS)}")
        if self.op == "skip":
            if self.stride != 1:
                raise ConfigError("a 'skip' stage must have stride 1 (it cannot change resolution)")
            return
        if self.stride not in (1, 2):
            raise ConfigError(f"stage stride must be 1 or 2, got {self.stride}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"kernel must be a positive odd number, got {self.kernel}")
        if self.expand < 1 or self.width < 1 or self.depth < 1:
            raise ConfigError(
                f"expand, width and depth must be >= 1, got e{self.expand} c{self.width} d{self.depth}"
            )

    @classmethod
    def make(cls, op: str, stride: int, kernel: int, expand: int, width: int, depth: int) -> Stage:
        """Build a stage in canonical form (ignored choices reset, skip normalised)."""
        if op == "skip":
            if stride != 1:
                raise ConfigError("a 'skip' stage must have stride 1 (it cannot change resolution)")
            return cls("skip", 1, 0, 0, 0, 0)
        if op in OPS and not OPS[op]:
            expand = 1
        return cls(op, stride, kernel, expand, width, depth)

    def to_str(self) -> str:
        """Canonical token of this stage."""
        if self.op == "skip":
            return "skip"
        return f"{self.op}_s{self.stride}_k{self.kernel}_e{self.expand}_c{self.width}_d{self.depth}"

    @classmethod
    def from_str(cls, token: str) -> Stage:
        """Parse one stage token (inverse of `to_str`)."""
        if token == "skip":
            return cls.make("skip", 1, 0, 0, 0, 0)
        m = _STAGE_RE.match(token)
        if not m:
            raise ConfigError(
                f"bad stage token '{token}'; expected <op>_s<stride>_k<kernel>_e<expand>_c<width>_d<depth> or 'skip'"
            )
        stage = cls.make(m["op"], int(m["s"]), int(m["k"]), int(m["e"]), int(m["c"]), int(m["d"]))
        if stage.to_str() != token:
            raise ConfigError(f"stage token '{token}' is not canonical; write '{stage.to_str()}'")
        return stage


@dataclass(frozen=True, order=True)
class Arch:
    """A student architecture: stem width, stages, head width. Immutable, hashable, canonical."""

    stem: int
    stages: tuple[Stage, ...]
    head: int = 0

    def __post_init__(self) -> None:
        if self.stem < 1:
            raise ConfigError(f"stem width must be >= 1, got {self.stem}")
        if self.head < 0:
            raise ConfigError(f"head width must be >= 0, got {self.head}")
        if not self.stages:
            raise ConfigError("an architecture needs at least one stage")
        object.__setattr__(self, "stages", tuple(self.stages))

    def to_str(self) -> str:
        """The canonical text form: the key of every cache and record."""
        tokens = [f"stem_c{self.stem}", *(s.to_str() for s in self.stages), f"head_c{self.head}"]
        return "-".join(tokens)

    def __str__(self) -> str:
        return self.to_str()

    @classmethod
    def from_str(cls, text: str) -> Arch:
        """Parse canonical text; raises `ConfigError` with the offending token otherwise."""
        tokens = text.strip().split("-")
        if len(tokens) < 3:
            raise ConfigError(f"bad architecture '{text}': expected stem_c<W>-<stage>...-head_c<W>")
        stem, head = _STEM_RE.match(tokens[0]), _HEAD_RE.match(tokens[-1])
        if not stem:
            raise ConfigError(f"bad architecture '{text}': first token must be stem_c<W>, got '{tokens[0]}'")
        if not head:
            raise ConfigError(f"bad architecture '{text}': last token must be head_c<W>, got '{tokens[-1]}'")
        arch = cls(int(stem["c"]), tuple(Stage.from_str(t) for t in tokens[1:-1]), int(head["c"]))
        # Stage tokens check themselves; stem/head must be canonical too ('stem_c016' is not).
        for token, want in ((tokens[0], f"stem_c{arch.stem}"), (tokens[-1], f"head_c{arch.head}")):
            if token != want:
                raise ConfigError(f"bad architecture '{text}': token '{token}' is not canonical; write '{want}'")
        return arch

    @property
    def strides(self) -> tuple[int, ...]:
        """Stride of each stage (1 for skip stages): fixes the resolution of every stage output."""
        return tuple(s.stride for s in self.stages)

    def out_width(self, stage_index: int) -> int:
        """Channels leaving stage `stage_index` (a skip stage passes its input width through)."""
        width = self.stem
        for stage in self.stages[: stage_index + 1]:
            if stage.op != "skip":
                width = stage.width
        return width
