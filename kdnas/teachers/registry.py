"""The teacher zoo's registry: `@register_model` and `create_model(name, ...)` (timm style).

Every zoo function takes the keyword-only arguments ``num_classes``, ``in_channels`` and
``input_size`` (so a teacher is sized for the data set's input shape) plus its own options, and
returns an untrained ``nn.Module`` with a ``feature_modules`` attribute.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from kdnas.errors import ConfigError

F = TypeVar("F", bound=Callable[..., nn.Module])

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: F) -> F:
    """Add `fn` to the zoo under its ``__name__``; a second function of the same name is a bug."""
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"teacher {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of the registered teachers, sorted."""
    return sorted(_MODELS)


def is_registered(name: str) -> bool:
    """Whether `name` is a zoo teacher."""
    return name in _MODELS


def unknown_teacher_message(name: str) -> str:
    """The one line used wherever a teacher name is not in the zoo."""
    return f"unknown teacher {name!r}; known: {', '.join(list_models())}"


def call_with_options(fn: Callable[..., Any], label: str, options: dict[str, Any], **standard: Any) -> Any:
    """Call `fn(**standard, **options)`, turning an option it does not take into a ConfigError.

    Standard arguments (``in_channels``, ``input_size``) are passed only where `fn` accepts them, so a
    user's factory may take just ``num_classes``. Checking the signature before the call (rather than
    catching TypeError around it) keeps a TypeError raised inside `fn` a visible bug.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: pass everything, let it decide
        return fn(**standard, **options)
    params = sig.parameters.values()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    names = {p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    for key in options:
        if key in standard:
            raise ConfigError(f"teacher {label!r}: option {key!r} is set by kdnas, not by kwargs")
        if not takes_any and key not in names:
            known = sorted(names - set(standard)) or ["none"]
            raise ConfigError(f"teacher {label!r} takes no option {key!r}; its options: {', '.join(known)}")
    passed = {k: v for k, v in standard.items() if takes_any or k in names}
    if "num_classes" not in passed:
        raise ConfigError(f"teacher {label!r} must accept a num_classes keyword argument")
    return fn(**passed, **options)


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int = 3,
    input_size: tuple[int, int] = (32, 32),
    **kwargs: Any,
) -> nn.Module:
    """Build the zoo teacher `name`, untrained, for `num_classes` and inputs of (in_channels, *input_size).

    Raises ConfigError for an unknown name or an option the model does not take.
    """
    if name not in _MODELS:
        raise ConfigError(unknown_teacher_message(name))
    return call_with_options(
        _MODELS[name],
        name,
        kwargs,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=tuple(input_size),
    )
