"""Which blocks the block-wise proxy trains for a space, and how their losses add up to a student's.

Student stages and teacher stages are not 1:1: a space may have several stages at one resolution
(a stride-2 stage followed by a skippable refinement stage, as in `mbv2.yaml`) where the teacher
has one. We therefore group the student's stages by the teacher stage whose resolution they share
(`align_stages`' rule) and train, per group, a *chain*: the group's stages in sequence, mapping the
teacher's input of that stage to its output. Training every combination of the group's choices
would cost the product of their choice counts; instead each stage's choices are trained with the
group's other stages held at a *reference* choice (skip where the stage allows it, else a middle
choice), so a group of stages with C_1..C_k choices costs about C_1 + ... + C_k trainings, and a
group's loss for a combination is the first-order (additive) expansion around the reference:

    L_g(c_1..c_k) ~= L_g(ref) + sum_j [L_g(ref with stage j = c_j) - L_g(ref)]

which is exact when each stage's contribution is independent of the others', and is the same
assumption DNA and DONNA make between blocks. With one stage per teacher stage (`resnet.yaml`) it
is just the block's own loss. Optionally (`include_stem_head`) the stem width is scored by a stem
block (image -> teacher stem output) and the head width by a head block (teacher's last stage
output -> teacher logits, KD loss).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdnas.arch import Stage
from kdnas.errors import ConfigError
from kdnas.space import SearchSpace

STEM, HEAD = "stem", "head"


def _order_key(stage: Stage) -> tuple:
    # Roughly by cost, so the reference ("middle") choice is a mid-sized block.
    return (stage.op == "skip", stage.width, stage.depth, stage.expand, stage.kernel, stage.op)


def stage_choices(space: SearchSpace) -> list[list[Stage]]:
    """Each stage's distinct canonical choices, in a fixed order (the index of a choice is its code)."""
    return [sorted(sc.distinct(), key=_order_key) for sc in space.stages]


def reference_choice(choices: list[Stage]) -> Stage:
    """The stage choice others are trained against: skip where allowed (the group then reduces to
    its other stages), else the middle choice by size."""
    for c in choices:
        if c.op == "skip":
            return c
    return choices[(len(choices) - 1) // 2]


@dataclass(frozen=True)
class Block:
    """One block to train. `group` is ``stem``, ``head`` or ``t<i>`` (teacher stage i); `chain`
    the student stages of a teacher-stage group; `width` the stem or head width."""

    group: str
    chain: tuple[Stage, ...] = ()
    width: int = 0

    def text(self) -> str:
        """Canonical text of the block (part of its cache key)."""
        if self.group in (STEM, HEAD):
            return f"{self.group}_c{self.width}"
        return "-".join(s.to_str() for s in self.chain)


@dataclass(frozen=True)
class BlockPlan:
    """The blocks of a space and how to combine their losses.

    - `groups[g]`: student stage indices aligned with teacher stage g.
    - `choices[j]`: stage j's distinct choices (a choice's index is its code in `ScoreTable`).
    - `reference[g]`: the reference chain of group g.
    - `blocks`: every block to train, without repeats.
    """

    groups: tuple[tuple[int, ...], ...]
    choices: tuple[tuple[Stage, ...], ...]
    reference: tuple[tuple[Stage, ...], ...]
    stem: tuple[int, ...]
    head: tuple[int, ...]
    blocks: tuple[Block, ...]
    include_stem_head: bool

    def chain_for(self, g: int, j: int, choice: Stage) -> tuple[Stage, ...]:
        """Group g's reference chain with student stage j set to `choice`."""
        pos = self.groups[g].index(j)
        ref = self.reference[g]
        return ref[:pos] + (choice,) + ref[pos + 1 :]

    def group_of(self, j: int) -> int:
        """The teacher stage whose group holds student stage j."""
        return next(g for g, members in enumerate(self.groups) if j in members)


def group_stages(student_res: list[tuple[int, int]], teacher_res: list[tuple[int, int]]) -> tuple[tuple[int, ...], ...]:
    """Student stage indices per teacher stage, by resolution; each student stage in exactly one
    group and groups contiguous (a resolution that repeats after a stride would be ambiguous)."""
    groups: list[list[int]] = [[] for _ in teacher_res]
    for j, res in enumerate(student_res):
        hits = [g for g, r in enumerate(teacher_res) if r == res]
        if len(hits) != 1:
            raise ConfigError(
                f"student stage {j} at resolution {res} matches {len(hits)} teacher stages {teacher_res}; "
                "the block-wise proxy needs each student stage to align with exactly one teacher stage"
            )
        groups[hits[0]].append(j)
    for g, members in enumerate(groups):
        if not members:
            raise ConfigError(f"no student stage reaches teacher stage {g} resolution {teacher_res[g]}")
        if members != list(range(members[0], members[-1] + 1)):
            raise ConfigError(f"student stages {members} of teacher stage {g} are not contiguous")
    return tuple(tuple(m) for m in groups)


def plan_blocks(
    space: SearchSpace, input_hw: tuple[int, int], teacher_res: list[tuple[int, int]], include_stem_head: bool = True
) -> BlockPlan:
    """The blocks needed to score every member of `space` against a teacher with stage resolutions
    `teacher_res` (from `stage_shapes`)."""
    groups = group_stages(space.resolutions(input_hw), list(teacher_res))
    choices = stage_choices(space)
    reference = tuple(tuple(reference_choice(choices[j]) for j in members) for members in groups)
    blocks: list[Block] = []
    seen: set[tuple[str, str]] = set()

    def add(block: Block) -> None:
        key = (block.group, block.text())
        if key not in seen:
            seen.add(key)
            blocks.append(block)

    if include_stem_head:
        for w in space.stem:
            add(Block(STEM, width=w))
    plan = BlockPlan(groups, tuple(tuple(c) for c in choices), reference, tuple(space.stem), tuple(space.head),
                     (), include_stem_head)
    for g, members in enumerate(groups):
        add(Block(f"t{g}", chain=reference[g]))
        for j in members:
            for c in choices[j]:
                add(Block(f"t{g}", chain=plan.chain_for(g, j, c)))
    if include_stem_head:
        for h in space.head:
            add(Block(HEAD, width=h))
    return BlockPlan(plan.groups, plan.choices, plan.reference, plan.stem, plan.head, tuple(blocks), include_stem_head)
