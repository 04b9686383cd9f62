"""Zero-cost proxies give finite scores that tell architectures apart, and leave the model alone."""

from __future__ import annotations

import math

import torch

from kdnas.arch import Arch
from kdnas.space import build_student
from kdnas.zerocost import naswot_score, synflow_score

SMALL = "stem_c4-ir_s1_k3_e1_c4_d1-ir_s2_k3_e2_c8_d1-dws_s2_k3_e1_c16_d1-head_c0"
BIG = "stem_c8-ir_s1_k3_e2_c8_d1-basic_s2_k3_e1_c16_d1-ir_s2_k3_e2_c24_d1-head_c0"


def test_scores_are_finite_and_differ() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 1, 8, 8)
    s, n = [], []
    for text in (SMALL, BIG):
        torch.manual_seed(0)
        model = build_student(Arch.from_str(text), 1, 10)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        s.append(synflow_score(model, (1, 8, 8)))
        n.append(naswot_score(model, x))
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(math.isfinite(v) for v in s + n)
    assert s[0] != s[1] and n[0] != n[1]
    assert s[1] > s[0]  # more (and wider) layers carry more synaptic flow
