"""Stage-boundary features through forward hooks on named modules (torchdistill style).

Hooks instead of ``forward(x, is_feat=True)``: no model, zoo or user's, has to be rewritten to
expose its features, and the same taps work on students.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from kdnas.errors import ConfigError


def feature_modules(model: nn.Module) -> tuple[str, ...]:
    """The model's stage-boundary module names, high to low resolution (``model.feature_modules``).

    Raises ConfigError where the model has none; a user's model gets them from
    ``TeacherSpec.feature_modules``.
    """
    names = getattr(model, "feature_modules", None)
    if names is None:
        raise ConfigError(
            f"model {type(model).__name__} has no feature_modules; "
            "name its stage-boundary modules in the teacher's feature_modules setting"
        )
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"model {type(model).__name__}: feature_modules must be a tuple of module names")
    return tuple(names)


def resolve_modules(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    """The submodules called `names`; ConfigError naming the first that does not exist."""
    found = dict(model.named_modules())
    missing = [n for n in names if n not in found]
    if missing:
        raise ConfigError(f"model {type(model).__name__} has no module {missing[0]!r} to take features from")
    return [found[n] for n in names]


class FeatureTaps:
    """Record the outputs of named submodules during a forward.

    Hooks are added on ``__enter__`` and removed on ``__exit__``; after a forward inside the
    block, ``features`` lists the outputs in the order of `names` (the latest call of each module
    wins). The tensors are the modules' own outputs, not copies, so gradients flow through them
    when the forward runs with grad (student features); the zoo never modifies them in place.

        with FeatureTaps(model, feature_modules(model)) as taps:
            logits = model(x)
        f1, f2, f3 = taps.features
    """

    def __init__(self, model: nn.Module, names: Sequence[str]):
        self.names = tuple(names)
        self._modules = resolve_modules(model, self.names)
        self._outputs: dict[str, torch.Tensor] = {}
        self._handles: list[RemovableHandle] = []

    def _hook(self, name: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self._outputs[name] = output

        return hook

    def __enter__(self) -> FeatureTaps:
        if self._handles:
            raise RuntimeError("FeatureTaps is already active")
        self._outputs.clear()
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in zip(self.names, self._modules)]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def features(self) -> list[torch.Tensor]:
        """The tapped outputs of the latest forward, in the order of `names`."""
        missing = [n for n in self.names if n not in self._outputs]
        if missing:
            raise RuntimeError(f"module {missing[0]!r} has not run; call the model inside the `with` block")
        return [self._outputs[n] for n in self.names]


def _param_like(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.float32


def stage_shapes(model: nn.Module, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """(C, H, W) of each stage feature, from one dry forward of a batch of 1 in eval mode.

    Each module's train/eval flag is restored afterwards (eval matters: a batch of 1 in train mode
    would update, and for 1x1 maps break, BatchNorm).
    """
    names = feature_modules(model)
    device, dtype = _param_like(model)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), FeatureTaps(model, names) as taps:
            model(torch.zeros(1, *input_shape, device=device, dtype=dtype))
            feats = taps.features
    finally:
        for m, mode in modes.items():
            m.training = mode
    shapes = []
    for name, f in zip(names, feats):
        if not isinstance(f, torch.Tensor) or f.dim() != 4:
            raise ConfigError(f"feature module {name!r} does not output an (N, C, H, W) tensor")
        shapes.append((int(f.shape[1]), int(f.shape[2]), int(f.shape[3])))
    return shapes
