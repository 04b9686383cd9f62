"""MACs/params: thop against torch's own FLOP counter and the published CIFAR figures."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kdnas.cost import count_macs_params
from kdnas.teachers import create_model

SHAPE = (3, 32, 32)


def _flop_counter_macs(model: torch.nn.Module) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, *SHAPE))
    return counter.get_total_flops() / 2  # torch counts a multiply-add as 2 FLOPs (conv/linear only)


@pytest.mark.parametrize(
    ("name", "params_m", "macs_m"),
    [("resnet20", 0.27, 41.0), ("resnet56", 0.86, 126.0)],
)
def test_known_figures(name, params_m, macs_m):
    model = create_model(name, num_classes=10)
    macs, params = count_macs_params(model, SHAPE)
    assert isinstance(macs, int) and isinstance(params, int)
    assert params / 1e6 == pytest.approx(params_m, rel=0.05)
    assert macs / 1e6 == pytest.approx(macs_m, rel=0.05)
    # thop adds BN, pooling and residual adds that FlopCounterMode leaves out: a few percent
    reference = _flop_counter_macs(model)
    assert reference <= macs <= reference * 1.04


def test_model_is_untouched():
    model = create_model("resnet20", num_classes=10)
    model.train()
    keys = list(model.state_dict())
    attrs = {name: set(vars(m)) for name, m in model.named_modules()}
    buffers = [name for name, _ in model.named_buffers()]
    count_macs_params(model, SHAPE)
    assert list(model.state_dict()) == keys
    assert [name for name, _ in model.named_buffers()] == buffers
    assert {name: set(vars(m)) for name, m in model.named_modules()} == attrs
    assert all(not m._forward_hooks for m in model.modules())
    assert all(m.training for m in model.modules())


def test_input_shape_matters():
    model = create_model("resnet20", num_classes=10, in_channels=1, input_size=(8, 8))
    small, _ = count_macs_params(model, (1, 8, 8))
    large, _ = count_macs_params(model, (1, 28, 28))
    assert small < large
