"""MACs and parameters of many architectures at once, from per-stage tables.

A student's cost is the sum of its parts: stem (its width), each stage (its choice and its input
width, which is the width of the last non-skip stage before it), and the tail (last width and head
width: head conv, pool, classifier). Each part is counted once with thop, by the same rules as
`count_macs_params` on the whole student, and then any number of architectures are costed by
numpy gathers. `tests/blockwise/test_costs.py` checks the sum against thop on whole students.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

import thop
import torch

from kdnas.arch import Stage
from kdnas.space import SearchSpace
from kdnas.space.blocks import conv_bn
from kdnas.space.builder import build_stage


def count_macs_params(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """`kdnas.cost.count_macs_params` without its deep copy: every module here is built fresh for
    the count and thrown away, and the copy was most of the time (a table needs hundreds)."""
    model.eval()
    with torch.no_grad():
        macs, _ = thop.profile(model, inputs=(torch.zeros(1, *input_shape),), verbose=False)
    return int(round(float(macs))), sum(p.numel() for p in model.parameters())


class _Tail(nn.Module):
    # The student's tail exactly as `Student` builds it (head conv, pool, classifier).
    def __init__(self, width: int, head: int, num_classes: int) -> None:
        super().__init__()
        self.head = conv_bn(width, head, 1) if head else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head or width, num_classes)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.fc(self.pool(self.head(x)).flatten(1))


class CostTable:
    """Per-part MACs/params of a space for one input shape; `__call__` costs index arrays.

    Codes: column 0 the stem width's index in `space.stem`, column 1+j stage j's choice index in
    `choices[j]`, last column the head width's index in `space.head` (see `ScoreTable`).
    """

    def __init__(self, space: SearchSpace, choices: tuple[tuple[Stage, ...], ...],
                 input_shape: tuple[int, int, int], num_classes: int) -> None:
        c, h, w = input_shape
        self.widths = sorted(set(space.stem) | {s.width for ch in choices for s in ch if s.op != "skip"})
        wi = {v: i for i, v in enumerate(self.widths)}
        nw = len(self.widths)
        self.stem_w = np.array([wi[v] for v in space.stem])
        self.stem_cost = np.array([count_macs_params(conv_bn(c, v, 3), (c, h, w)) for v in space.stem], dtype=np.int64)
        # out width index per stage choice; -1 = skip (the width passes through)
        self.out_w = [np.array([wi[s.width] if s.op != "skip" else -1 for s in ch]) for ch in choices]
        self.stage_cost: list[np.ndarray] = []  # [choice, in width index, (macs, params)]
        reachable = {wi[v] for v in space.stem}
        hh, ww = h, w
        for sc, ch in zip(space.stages, choices):
            table = np.zeros((len(ch), nw, 2), dtype=np.int64)
            for k, st in enumerate(ch):
                if st.op == "skip":
                    continue  # the identity costs nothing
                for i in reachable:  # only input widths some member of the space can feed it
                    table[k, i] = count_macs_params(build_stage(st, self.widths[i]), (self.widths[i], hh, ww))
            self.stage_cost.append(table)
            nxt = {wi[s.width] for s in ch if s.op != "skip"}
            reachable = nxt | (reachable if any(s.op == "skip" for s in ch) else set())
            hh, ww = math.ceil(hh / sc.stride), math.ceil(ww / sc.stride)
        self.tail_cost = np.zeros((nw, len(space.head), 2), dtype=np.int64)
        for i in reachable:
            for k, hd in enumerate(space.head):
                self.tail_cost[i, k] = count_macs_params(_Tail(self.widths[i], hd, num_classes), (self.widths[i], hh, ww))

    def __call__(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(MACs, params) of each row of `codes` (N x (stages + 2)), as int64 arrays."""
        codes = np.asarray(codes)
        cur = self.stem_w[codes[:, 0]]
        total = self.stem_cost[codes[:, 0]].copy()
        for j, table in enumerate(self.stage_cost):
            cj = codes[:, 1 + j]
            total += table[cj, cur]
            out = self.out_w[j][cj]
            cur = np.where(out >= 0, out, cur)
        total += self.tail_cost[cur, codes[:, -1]]
        return total[:, 0], total[:, 1]
