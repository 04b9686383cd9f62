"""A random-init (seeded) resnet20 on digits: enough to check the block table's mechanics fast."""

from __future__ import annotations

import pytest
import torch

from kdnas.data import DataBundle, DataSpec, load_data
from kdnas.teachers import TeacherSpec, build_model, freeze


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_data(DataSpec(name="digits", val_fraction=0.2, max_train=256, max_val=64))


@pytest.fixture(scope="module")
def teacher(digits: DataBundle) -> torch.nn.Module:
    torch.manual_seed(0)
    c, h, w = digits.input_shape
    return freeze(build_model(TeacherSpec(name="resnet20"), num_classes=10, in_channels=c, input_size=(h, w)))
