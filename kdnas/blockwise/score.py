"""Score architectures from a block table: an architecture is a row of choice codes, its block-wise
loss a sum of table lookups, so scoring N architectures is a handful of numpy gathers.

Codes: column 0 the stem width's index in `plan.stem`; column 1+j stage j's choice index in
`plan.choices[j]`; the last column the head width's index in `plan.head`. Every code row is a
distinct canonical architecture (choices are canonical and distinct), so uniform codes sample the
space uniformly.

Each group's loss is divided by the mean loss of the group's blocks before summing (the "sum of
per-stage normalised losses"): otherwise the stage with the largest raw loss would decide the
ranking alone. Lower is better. The block's figure is its validation loss, or (`kind` "tse") its
training speed, the mean training loss over its steps.
"""

from __future__ import annotations

import math

import numpy as np

from kdnas.arch import Arch
from kdnas.blockwise.plan import HEAD, STEM, Block, BlockPlan
from kdnas.blockwise.table import BlockTable


class ScoreTable:
    """Per-choice additive contributions to the block-wise loss, by group (see module doc)."""

    def __init__(self, table: BlockTable, kind: str = "loss") -> None:
        plan = table.plan
        self.plan = plan
        values = table.values(kind)
        if any(math.isnan(values.get(k, math.nan)) for k in table.losses):
            raise ValueError(f"the block table lacks '{kind}' for some blocks (cached before it was kept)")
        finite = [v for v in values.values() if math.isfinite(v)]
        worst = 2.0 * max(finite) if finite else 1.0

        def loss(block: Block) -> float:
            v = values[(block.group, block.text())]
            return v if math.isfinite(v) else worst  # a block that diverged ranks last, not NaN

        def norm(values: list[float]) -> float:
            m = float(np.mean(values))
            return m if m > 0 else 1.0

        n_groups = len(plan.groups)
        # component tables: [group] -> list of (axis, per-choice values); plus a constant per group
        self.axis_tables: list[np.ndarray] = []
        self.axis_group: list[int] = []  # which component column an axis adds to
        self.base = np.zeros(n_groups + 2)
        if plan.include_stem_head:
            vals = [loss(Block(STEM, width=w)) for w in plan.stem]
            self.axis_tables.append(np.array(vals) / norm(vals))
        else:
            self.axis_tables.append(np.zeros(len(plan.stem)))
        self.axis_group.append(0)
        stage_tables: dict[int, np.ndarray] = {}
        for g, members in enumerate(plan.groups):
            ref = loss(Block(f"t{g}", chain=plan.reference[g]))
            per = {j: [loss(Block(f"t{g}", chain=plan.chain_for(g, j, c))) for c in plan.choices[j]] for j in members}
            scale = norm([ref] + [v for vals in per.values() for v in vals])
            self.base[1 + g] = ref / scale
            for j in members:
                stage_tables[j] = (np.array(per[j]) - ref) / scale
        for j in range(len(plan.choices)):
            self.axis_tables.append(stage_tables[j])
            self.axis_group.append(1 + plan.group_of(j))
        if plan.include_stem_head:
            vals = [loss(Block(HEAD, width=h)) for h in plan.head]
            self.axis_tables.append(np.array(vals) / norm(vals))
        else:
            self.axis_tables.append(np.zeros(len(plan.head)))
        self.axis_group.append(n_groups + 1)
        self.sizes = np.array([len(t) for t in self.axis_tables])

    @property
    def space_size(self) -> int:
        """Number of distinct architectures the codes describe."""
        return int(np.prod(self.sizes.astype(object)))

    @property
    def component_names(self) -> list[str]:
        """What each column of `components` scores: the stem, each teacher stage's group, the head."""
        groups = [f"teacher stage {g} (student stages {', '.join(map(str, m))})" for g, m in enumerate(self.plan.groups)]
        return [STEM, *groups, HEAD]

    def components(self, codes: np.ndarray) -> np.ndarray:
        """Per-component normalised losses (N x (teacher stages + 2): stem, each group, head)."""
        codes = np.asarray(codes)
        out = np.tile(self.base, (len(codes), 1))
        for a, table in enumerate(self.axis_tables):
            out[:, self.axis_group[a]] += table[codes[:, a]]
        return out

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Block-wise loss of each code row (lower is better)."""
        codes = np.asarray(codes)
        total = np.full(len(codes), self.base.sum())
        for a, table in enumerate(self.axis_tables):
            total += table[codes[:, a]]
        return total

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` distinct code rows, uniformly at random; the whole space (enumerated) when it has at most `n`."""
        if self.space_size <= n:
            grids = np.meshgrid(*[np.arange(s) for s in self.sizes], indexing="ij")
            return np.stack([g.ravel() for g in grids], axis=1)
        rng = np.random.default_rng(seed)
        codes = np.stack([rng.integers(0, s, size=int(n * 1.05) + 16) for s in self.sizes], axis=1)
        codes = np.unique(codes, axis=0)  # sorted; reshuffle so a prefix is still a uniform sample
        return codes[rng.permutation(len(codes))[:n]]

    def decode(self, row: np.ndarray) -> Arch:
        """The architecture of one code row."""
        plan = self.plan
        stages = tuple(plan.choices[j][int(row[1 + j])] for j in range(len(plan.choices)))
        return Arch(plan.stem[int(row[0])], stages, plan.head[int(row[-1])])

    def encode(self, arch: Arch) -> np.ndarray:
        """The code row of `arch` (ValueError when a choice is not in the plan's space)."""
        plan = self.plan
        return np.array([plan.stem.index(arch.stem), *(plan.choices[j].index(s) for j, s in enumerate(arch.stages)),
                         plan.head.index(arch.head)])
