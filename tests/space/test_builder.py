"""Students built from Arch values: shapes, widths, hookable stage outputs."""

from __future__ import annotations

import pytest
import torch

from kdnas.arch import Arch
from kdnas.space import build_student
from kdnas.teachers import FeatureTaps, feature_modules, stage_shapes

ARCH = Arch.from_str(
    "stem_c8-ir_s1_k3_e2_c8_d2-skip-dws_s2_k5_e1_c16_d1-basic_s2_k3_e1_c24_d1-bneck_s1_k3_e4_c32_d2-head_c0"
)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
@pytest.mark.parametrize("head", [0, 20])
def test_output_shape(shape, head):
    arch = Arch(ARCH.stem, ARCH.stages, head)
    model = build_student(arch, shape[0], 7)
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert model.fc.in_features == (head or 32)
    assert model.arch_str == str(arch)


def test_stages_and_depth_follow_the_arch():
    model = build_student(ARCH, 3, 10)
    assert len(model.stages) == len(ARCH.stages)
    assert isinstance(model.stages[1], torch.nn.Identity)
    assert len(model.stages[0]) == 2 and len(model.stages[4]) == 2


def test_feature_modules_are_hookable_with_stage_shapes():
    model = build_student(ARCH, 1, 10)
    names = feature_modules(model)
    assert names == tuple(f"stages.{i}" for i in range(5))
    with FeatureTaps(model, names) as taps:
        model(torch.randn(2, 1, 8, 8))
        feats = taps.features
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 8, 8), (8, 8, 8), (16, 4, 4), (24, 2, 2), (32, 2, 2)]
    assert stage_shapes(model, (1, 8, 8)) == [tuple(f.shape[1:]) for f in feats]
    for i in range(len(ARCH.stages)):
        assert feats[i].shape[1] == ARCH.out_width(i)


def test_skip_first_stage_passes_stem_width():
    arch = Arch.from_str("stem_c6-skip-ir_s2_k3_e1_c8_d1-head_c0")
    assert build_student(arch, 3, 2)(torch.randn(1, 3, 8, 8)).shape == (1, 2)
