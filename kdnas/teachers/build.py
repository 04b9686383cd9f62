"""Building a teacher from its spec, and loading it with its trained weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from kdnas.errors import CheckpointError, ConfigError
from kdnas.teachers.checkpoint import load_checkpoint
from kdnas.teachers.factory import is_factory_target, load_factory
from kdnas.teachers.features import resolve_modules
from kdnas.teachers.freeze import freeze
from kdnas.teachers.registry import call_with_options, create_model
from kdnas.teachers.spec import TeacherSpec


def build_model(
    spec: TeacherSpec, *, num_classes: int, in_channels: int, input_size: tuple[int, int]
) -> nn.Module:
    """The teacher of `spec` with untrained weights: a zoo model or the user's factory's model.

    ``spec.feature_modules`` (checked to exist) is set on the model as ``feature_modules``.
    Raises ConfigError for an unknown name, a bad factory, a bad option or a factory that does
    not return an ``nn.Module``.
    """
    standard = {"num_classes": num_classes, "in_channels": in_channels, "input_size": tuple(input_size)}
    if is_factory_target(spec.name):
        model = call_with_options(load_factory(spec.name), spec.name, dict(spec.kwargs), **standard)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"teacher factory {spec.name!r} returned a {type(model).__name__}, not an nn.Module")
    else:
        model = create_model(spec.name, **standard, **spec.kwargs)
    if spec.feature_modules is not None:
        resolve_modules(model, spec.feature_modules)
        model.feature_modules = tuple(spec.feature_modules)
    return model


def _fit_problems(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """One phrase describing how `state` does not fit `model`, or None where it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]!r})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]!r})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} shape mismatch(es) (e.g. {k!r}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})"
        )
    return "; ".join(parts) or None


def load_teacher(
    spec: TeacherSpec,
    *,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    checkpoint: Path | None = None,
) -> nn.Module:
    """Build the teacher, load its weights strictly, and return it frozen (see `freeze`), on the CPU.

    `checkpoint` overrides ``spec.checkpoint``. Raises CheckpointError (one line naming the file)
    when there is no checkpoint, it cannot be read, its ``meta["arch"]`` is another architecture,
    or its weights do not fit the model (missing/unexpected keys, other shapes — e.g. another
    number of classes).
    """
    path = checkpoint if checkpoint is not None else spec.checkpoint
    if path is None:
        raise CheckpointError(f"teacher {spec.name!r} has no checkpoint; set the teacher's checkpoint file")
    state, meta = load_checkpoint(Path(path))
    arch = meta.get("arch")
    if arch is not None and arch != spec.name:
        raise CheckpointError(f"checkpoint {path} holds arch {arch!r}, the study's teacher is {spec.name!r}")
    model = build_model(spec, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    problems = _fit_problems(model, state)
    if problems is not None:
        raise CheckpointError(f"checkpoint {path} does not fit teacher {spec.name!r}: {problems}")
    model.load_state_dict(state, strict=True)
    return freeze(model)
