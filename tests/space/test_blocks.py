"""Every block op builds and runs for stride 1/2 and channel changes; residuals only where shapes allow."""

from __future__ import annotations

import pytest
import torch

from kdnas.arch import OPS
from kdnas.space.blocks import BLOCKS, BasicBlock, Bottleneck, DepthwiseSeparable, InvertedResidual, conv_bn


def test_every_non_skip_op_has_a_block():
    assert set(BLOCKS) == {op for op in OPS if op != "skip"}


@pytest.mark.parametrize("op", sorted(BLOCKS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_in, c_out, kernel, expand", [(8, 8, 3, 1), (4, 12, 5, 4), (12, 4, 3, 2)])
def test_block_output_shape(op, stride, c_in, c_out, kernel, expand):
    block = BLOCKS[op](c_in, c_out, stride, kernel, expand)
    x = torch.randn(2, c_in, 7, 8)
    y = block(x)
    h, w = -(-7 // stride), -(-8 // stride)
    assert y.shape == (2, c_out, h, w)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())


@pytest.mark.parametrize("cls", [InvertedResidual, DepthwiseSeparable])
def test_mobile_blocks_are_residual_only_where_shapes_allow(cls):
    assert cls(8, 8, 1, 3, 2).residual
    assert not cls(8, 8, 2, 3, 2).residual
    assert not cls(8, 16, 1, 3, 2).residual


@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck])
def test_resnet_blocks_project_the_shortcut_only_where_shapes_change(cls):
    assert isinstance(cls(8, 8, 1, 3, 4).shortcut, torch.nn.Identity)
    assert not isinstance(cls(8, 8, 2, 3, 4).shortcut, torch.nn.Identity)
    assert not isinstance(cls(8, 16, 1, 3, 4).shortcut, torch.nn.Identity)


def test_inverted_residual_adds_its_input():
    block = InvertedResidual(4, 4, 1, 3, 1).eval()
    for p in block.body[-1].parameters():  # zero the projection's BN: the body outputs 0
        torch.nn.init.zeros_(p)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(block(x), x)


def test_inverted_residual_expansion_sets_hidden_width():
    block = InvertedResidual(4, 8, 1, 3, 6)
    depthwise = block.body[1][0]
    assert depthwise.in_channels == depthwise.out_channels == depthwise.groups == 24
    assert len(InvertedResidual(4, 8, 1, 3, 1).body) == 2  # no 1x1 expansion at expand 1


def test_bottleneck_mid_width():
    block = Bottleneck(8, 16, 1, 3, 2)
    assert block.body[0][0].out_channels == 8  # 16 * 2 / 4
    assert Bottleneck(8, 2, 1, 3, 1).body[0][0].out_channels == 1  # never 0


def test_conv_bn_same_padding():
    layer = conv_bn(3, 5, 5, 2, act=False)
    assert len(layer) == 2
    assert layer(torch.randn(1, 3, 9, 9)).shape == (1, 5, 5, 5)
