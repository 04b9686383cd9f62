"""Every zoo model builds for CIFAR, digits and MNIST shapes, with stages of decreasing resolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdnas.errors import ConfigError
from kdnas.teachers import create_model, feature_modules, list_models, register_model, stage_shapes

ZOO = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet56", "resnet110", "resnet8x4", "resnet32x4", "wrn_40_2", "vgg13"]
SHAPES = [(3, 32, 32), (1, 8, 8), (1, 28, 28)]


def test_zoo_is_registered():
    assert set(ZOO) <= set(list_models())
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", ZOO)
def test_builds_and_classifies(name, shape):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_channels=shape[0], input_size=shape[1:]).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()

    shapes = stage_shapes(model, shape)
    assert len(shapes) == len(feature_modules(model)) == (4 if name == "vgg13" else 3)
    sides = [h for _, h, _ in shapes]
    assert sides[0] == shape[1]  # the first stage runs at input resolution
    assert all(a > b for a, b in zip(sides, sides[1:])), sides  # high -> low resolution
    assert all(h == w for _, h, w in shapes)


def test_stage_shapes_restores_train_mode():
    model = create_model("resnet20", num_classes=10)
    model.train()
    stage_shapes(model, (3, 32, 32))
    assert all(m.training for m in model.modules())


def test_unknown_name_lists_known():
    with pytest.raises(ConfigError, match=r"unknown teacher 'resnet999'; known: .*resnet20"):
        create_model("resnet999", num_classes=10)


def test_unknown_option_is_config_error():
    with pytest.raises(ConfigError, match="takes no option 'width'"):
        create_model("resnet20", num_classes=10, width=2)
    # a real option passes through
    assert create_model("wrn_40_2", num_classes=10, drop_rate=0.3).block1.layer[0].drop_rate == 0.3


def test_duplicate_registration_is_a_bug():
    def resnet20(*, num_classes: int) -> nn.Module:
        return nn.Linear(1, num_classes)

    with pytest.raises(ValueError, match="registered twice"):
        register_model(resnet20)


def test_feature_modules_missing_is_config_error():
    with pytest.raises(ConfigError, match="has no feature_modules"):
        feature_modules(nn.Linear(2, 2))


def test_state_dict_keys_follow_repdistiller():
    # same names as RepDistiller's models, so its published teacher weights load unchanged
    keys = set(create_model("resnet20", num_classes=10).state_dict())
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight", "fc.bias"} <= keys
    keys = set(create_model("wrn_40_2", num_classes=10).state_dict())
    assert {"block2.layer.0.convShortcut.weight", "bn1.running_mean", "fc.weight"} <= keys
    keys = set(create_model("vgg13", num_classes=10).state_dict())
    assert {"block0.0.weight", "block0.0.bias", "block0.4.running_var", "classifier.weight"} <= keys
