"""Score a student by stitching its trained blocks into one network and running it.

The additive score (`kdnas.blockwise.score`) sums each block's imitation loss as if a block's error
did not depend on the blocks before it. Stitching measures what the sum assumes away: the
student's stem block, each teacher-stage group's chain and its head block, as trained for the table
(every block reads and writes the teacher's channels through its adapters, so any choices fit
together), are run one after the other on validation images, each block fed the previous block's
output instead of the teacher's features. The network's agreement with the teacher's logits (KD
loss) and its accuracy on the labels then score the student, errors compounded across stages.

A group whose exact chain the table holds (the group's other stages at their reference choice:
skip where a stage may be skipped) is that chain. Any other combination is not in the table; its
output is the first-order expansion around the reference chain, the feature-level form of the
assumption the additive score makes about losses:

    f(c_1..c_k)(h) ~= f(ref)(h) + sum_j [f(ref with stage j = c_j)(h) - f(ref)(h)]

Costs one forward pass of the stitched network per student (the blocks are loaded once), against
a whole training run for the end-to-end proxies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdnas.arch import Arch
from kdnas.blockwise.plan import HEAD, STEM, Block
from kdnas.blockwise.table import KD_TEMPERATURE, BlockTable
from kdnas.distill.losses import kd_loss
from kdnas.errors import ConfigError


class StitchedStudent(nn.Module):
    """A student assembled from trained blocks: stem, one weighted sum of chains per group, head."""

    def __init__(self, stem: nn.Module, groups: list[list[tuple[float, nn.Module]]], head: nn.Module) -> None:
        super().__init__()
        self.stem, self.head = stem, head
        self.coefs = [[c for c, _ in terms] for terms in groups]
        self.groups = nn.ModuleList(nn.ModuleList(m for _, m in terms) for terms in groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for coefs, chains in zip(self.coefs, self.groups):
            h = sum(c * m(h) for c, m in zip(coefs, chains))
        return self.head(h)


def group_terms(table: BlockTable, arch: Arch, g: int) -> list[tuple[float, Block]]:
    """(coefficient, block) terms whose weighted sum stands for `arch`'s group g (module doc)."""
    plan = table.plan
    chain = tuple(arch.stages[j] for j in plan.groups[g])
    exact = Block(f"t{g}", chain=chain)
    if (exact.group, exact.text()) in table.losses:
        return [(1.0, exact)]
    ref = plan.reference[g]
    changed = [j for pos, j in enumerate(plan.groups[g]) if chain[pos] != ref[pos]]
    terms = [(1.0 - len(changed), Block(f"t{g}", chain=ref))]
    return terms + [(1.0, Block(f"t{g}", chain=plan.chain_for(g, j, arch.stages[j]))) for j in changed]


def stitch(table: BlockTable, arch: Arch) -> StitchedStudent:
    """`arch` assembled from `table`'s trained blocks (the table must keep weights and score the
    stem and head: ``include_stem_head``)."""
    plan = table.plan
    if not plan.include_stem_head:
        raise ConfigError("stitching a student needs its stem and head blocks: set proxy.blockwise.advanced.include_stem_head")
    groups = [[(c, table.module(b)) for c, b in group_terms(table, arch, g)] for g in range(len(plan.groups))]
    return StitchedStudent(table.module(Block(STEM, width=arch.stem)), groups, table.module(Block(HEAD, width=arch.head)))


@torch.inference_mode()
def stitched_scores(table: BlockTable, arch: Arch, x: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor,
                    batch_size: int = 256) -> dict[str, float]:
    """The stitched student's KD loss to `teacher_logits` (lower is better), cross-entropy and
    accuracy on labels `y`, over images `x`."""
    model = stitch(table, arch).eval()
    out = torch.cat([model(x[s : s + batch_size].float()) for s in range(0, len(x), batch_size)])
    return {"kd": float(kd_loss(out, teacher_logits, KD_TEMPERATURE)), "ce": float(F.cross_entropy(out, y)),
            "acc": float((out.argmax(1) == y).float().mean())}
