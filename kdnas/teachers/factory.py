"""Bring-your-own teachers: resolve ``"package.module:function"`` to a callable.

This is the only place where a config may name code. A study config is data; naming a factory
imports that module (running its top-level code) and later calls the function, exactly as
``python -c "import package.module"`` would. Use it only with configs you trust, and keep the
factory on ``sys.path`` (an installed package, or the working directory). Nothing else in kdnas
imports or calls a name taken from a config: every other name in a YAML file is looked up in a
registry.

A factory is called as ``fn(num_classes=..., **kwargs)``, plus ``in_channels=`` and
``input_size=`` where its signature takes them (or takes ``**kwargs``), and must return an
``nn.Module``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from kdnas.errors import ConfigError

# dotted module path, a colon, then an attribute path (``Class.build`` is allowed)
_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_factory_target(name: str) -> bool:
    """Whether `name` names a factory (it has a colon) rather than a zoo teacher."""
    return ":" in name


def has_target_form(target: str) -> bool:
    """Whether `target` is well formed: ``package.module:function`` of Python identifiers."""
    return _TARGET.match(target) is not None


def load_factory(target: str, what: str = "teacher factory") -> Callable[..., Any]:
    """Import ``package.module`` and return its callable attribute ``function``.

    Raises ConfigError (one line, starting with `what`) for a malformed target, a module that
    cannot be imported, a missing attribute, or an attribute that is not callable.
    """
    if not has_target_form(target):
        raise ConfigError(f"{what} {target!r} is not of the form 'package.module:function'")
    module_name, attr_path = target.split(":", 1)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # tell "your module is missing" apart from "your module imports something missing"
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigError(
                f"{what} {target!r}: no module named {module_name!r} on the Python path"
            ) from exc
        raise ConfigError(f"{what} {target!r}: importing {module_name!r} failed: {exc}") from exc
    except (ImportError, SyntaxError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{what} {target!r}: importing {module_name!r} failed: {first}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what} {target!r}: {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{what} {target!r}: {attr_path!r} is not callable")
    return obj
