"""Resolve what `kdnas profile` is asked about: a zoo model, a factory, or an architecture string."""

from __future__ import annotations

from torch import nn

from kdnas.arch import Arch
from kdnas.errors import ConfigError
from kdnas.space import build_student
from kdnas.teachers import TeacherSpec, build_model, list_models


def model_for(ref: str, input_shape: tuple[int, int, int], num_classes: int) -> tuple[nn.Module, str]:
    """An untrained model for `ref` and a label saying what it is."""
    c, h, w = input_shape
    if ref in list_models() or ":" in ref:
        model = build_model(TeacherSpec(name=ref), num_classes=num_classes, in_channels=c, input_size=(h, w))
        return model.eval(), f"model {ref}"
    try:
        arch = Arch.from_str(ref)
    except ConfigError as err:
        raise ConfigError(
            f"'{ref}' is neither a zoo model ({', '.join(list_models())}), a package.module:function factory, "
            f"nor an architecture string ({err})"
        ) from None
    return build_student(arch, c, num_classes).eval(), f"architecture {arch}"
