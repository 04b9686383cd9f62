"""MACs, parameters and predicted latency of many architectures at once, from per-stage tables.

A student's cost is the sum of its parts: stem (its width), each stage (its choice and its input
width, which is the width of the last non-skip stage before it), and the tail (last width and head
width: head conv, pool, classifier). Each part is counted once with thop, by the same rules as
`count_macs_params` on the whole student, and then any number of architectures are costed by
numpy gathers. `tests/blockwise/test_score.py` checks the sum against thop on whole students.
Latency is gathered the same way from a `kdnas.cost.latency_table.LatencyTable`, whose entries are
keyed the same way (stage choice and input width).
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

import thop
import torch

from kdnas.arch import Stage
from kdnas.cost.latency_table import LatencyTable
from kdnas.space import SearchSpace
from kdnas.space.blocks import conv_bn
from kdnas.space.builder import StudentTail, build_stage


def count_macs_params(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """`kdnas.cost.count_macs_params` without its deep copy: every module here is built fresh for
    the count and thrown away, and the copy was most of the time (a table needs hundreds)."""
    model.eval()
    with torch.no_grad():
        macs, _ = thop.profile(model, inputs=(torch.zeros(1, *input_shape),), verbose=False)
    return int(round(float(macs))), sum(p.numel() for p in model.parameters())


class CostTable:
    """Per-part MACs/params of a space for one input shape (and, given a `LatencyTable`, per-part
    latencies); `__call__` costs index arrays, `latency_ms` times them.

    Codes: column 0 the stem width's index in `space.stem`, column 1+j stage j's choice index in
    `choices[j]`, last column the head width's index in `space.head` (see `ScoreTable`).
    """

    def __init__(self, space: SearchSpace, choices: tuple[tuple[Stage, ...], ...],
                 input_shape: tuple[int, int, int], num_classes: int, latency: LatencyTable | None = None) -> None:
        c, h, w = input_shape
        self.widths = sorted(set(space.stem) | {s.width for ch in choices for s in ch if s.op != "skip"})
        wi = {v: i for i, v in enumerate(self.widths)}
        nw = len(self.widths)
        inputs = space.input_widths()  # only input widths some member of the space can feed a stage
        self.stem_w = np.array([wi[v] for v in space.stem])
        self.stem_cost = np.array([count_macs_params(conv_bn(c, v, 3), (c, h, w)) for v in space.stem], dtype=np.int64)
        # out width index per stage choice; -1 = skip (the width passes through)
        self.out_w = [np.array([wi[s.width] if s.op != "skip" else -1 for s in ch]) for ch in choices]
        self.stage_cost: list[np.ndarray] = []  # [choice, in width index, (macs, params)]
        hh, ww = h, w
        for j, (sc, ch) in enumerate(zip(space.stages, choices)):
            table = np.zeros((len(ch), nw, 2), dtype=np.int64)
            for k, st in enumerate(ch):
                if st.op == "skip":
                    continue  # the identity costs nothing
                for v in inputs[j]:
                    table[k, wi[v]] = count_macs_params(build_stage(st, v), (v, hh, ww))
            self.stage_cost.append(table)
            hh, ww = math.ceil(hh / sc.stride), math.ceil(ww / sc.stride)
        self.tail_cost = np.zeros((nw, len(space.head), 2), dtype=np.int64)
        for v in inputs[-1]:
            for k, hd in enumerate(space.head):
                self.tail_cost[wi[v], k] = count_macs_params(StudentTail(v, hd, num_classes), (v, hh, ww))
        self.latency = latency
        if latency is not None:  # the same gathers over the latency table's entries
            self.stem_ms = np.array([latency.stem[v] for v in space.stem])
            self.stage_ms = [np.zeros((len(ch), nw)) for ch in choices]
            for j, ch in enumerate(choices):
                for k, st in enumerate(ch):
                    for v in inputs[j]:
                        self.stage_ms[j][k, wi[v]] = latency.stage_ms(j, st, v)
            self.tail_ms = np.zeros((nw, len(space.head)))
            for v in inputs[-1]:
                for k, hd in enumerate(space.head):
                    self.tail_ms[wi[v], k] = latency.tail[(v, hd)]

    def _sum(self, codes: np.ndarray, stem: np.ndarray, stages: list[np.ndarray], tail: np.ndarray) -> np.ndarray:
        # Each stage's entry is looked up by its choice and the width entering it, which is the
        # width of the last non-skip stage before it (or the stem's).
        cur = self.stem_w[codes[:, 0]]
        total = stem[codes[:, 0]].copy()
        for j, table in enumerate(stages):
            cj = codes[:, 1 + j]
            total += table[cj, cur]
            out = self.out_w[j][cj]
            cur = np.where(out >= 0, out, cur)
        return total + tail[cur, codes[:, -1]]

    def __call__(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(MACs, params) of each row of `codes` (N x (stages + 2)), as int64 arrays."""
        total = self._sum(np.asarray(codes), self.stem_cost, self.stage_cost, self.tail_cost)
        return total[:, 0], total[:, 1]

    def latency_ms(self, codes: np.ndarray) -> np.ndarray:
        """Predicted latency (ms) of each row of `codes`: the latency table's entries summed, plus its
        overhead. Needs the table this was made with."""
        if self.latency is None:
            raise ValueError("this cost table was made without a latency table")
        return self._sum(np.asarray(codes), self.stem_ms, self.stage_ms, self.tail_ms) + self.latency.overhead_ms
