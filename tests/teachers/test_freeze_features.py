"""Freezing keeps a teacher in eval mode; feature taps see the stage shapes and then go away."""

from __future__ import annotations

import copy

import torch
from torch import nn

from kdnas.teachers import FeatureTaps, create_model, feature_modules, freeze, is_frozen, stage_shapes


def test_freeze_survives_train():
    model = freeze(create_model("resnet20", num_classes=10))
    holder = nn.ModuleDict({"teacher": model, "student": nn.Linear(2, 2)})
    holder.train()  # a distiller's .train() reaches the teacher through its children
    assert holder["student"].training
    assert not any(m.training for m in model.modules())
    model.train()
    model.layer1.train()
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    assert is_frozen(model)


def test_frozen_batchnorm_stats_do_not_move():
    model = freeze(create_model("resnet20", num_classes=10))
    before = model.bn1.running_mean.clone()
    model.train()
    model(torch.randn(4, 3, 32, 32) * 5 + 3)
    assert torch.equal(model.bn1.running_mean, before)


def test_freeze_survives_deepcopy():
    model = copy.deepcopy(freeze(create_model("resnet20", num_classes=10)))
    model.train()
    assert not model.training and not model.layer3.training


def test_feature_taps_match_stage_shapes_and_are_removed():
    for name in ("resnet8x4", "wrn_40_2", "vgg13"):
        model = create_model(name, num_classes=10).eval()
        names = feature_modules(model)
        expected = stage_shapes(model, (3, 32, 32))
        with torch.no_grad(), FeatureTaps(model, names) as taps:
            model(torch.randn(2, 3, 32, 32))
            got = [tuple(f.shape) for f in taps.features]
        assert got == [(2, *s) for s in expected]
        modules = dict(model.named_modules())
        assert all(not modules[n]._forward_hooks for n in names)


def test_feature_taps_carry_gradients():
    model = create_model("resnet20", num_classes=10)
    with FeatureTaps(model, ["layer2"]) as taps:
        model(torch.randn(2, 3, 32, 32))
    (f,) = taps.features
    f.pow(2).mean().backward()
    assert model.conv1.weight.grad is not None
