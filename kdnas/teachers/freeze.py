"""Freezing a teacher: eval mode, no gradients, and it stays that way."""

from __future__ import annotations

import types

from torch import nn


def _train_stays_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    # nn.Module.train(False) recurses into children, whose own train is replaced too
    return nn.Module.train(self, False)


def freeze(model: nn.Module) -> nn.Module:
    """Put `model` in eval mode with ``requires_grad=False``, and keep it in eval mode.

    A distiller usually holds the teacher as a submodule, and ``student_wrapper.train()`` calls
    ``.train()`` on every child: the teacher's BatchNorm would then use batch statistics and
    update its running means on student batches, silently changing the teacher (mdistiller guards
    against the same thing). So ``train`` is replaced on each of the model's module instances by
    one that sets eval mode; the class, state_dict and module names are untouched (no wrapper
    prefix), and ``copy.deepcopy`` keeps the replacement bound to the copy. Returns `model`.
    """
    model.eval()
    model.requires_grad_(False)
    for m in model.modules():
        # instance attribute, found before the class method; nn.Module stores non-module values plainly
        m.train = types.MethodType(_train_stays_eval, m)
    return model


def is_frozen(model: nn.Module) -> bool:
    """Whether `freeze` was applied to `model`."""
    train = model.__dict__.get("train")
    return isinstance(train, types.MethodType) and train.__func__ is _train_stays_eval
