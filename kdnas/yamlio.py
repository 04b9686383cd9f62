"""Load a YAML file into a pydantic model, turning every problem into one `ConfigError` line.

The line names the file, the field and what is allowed, e.g.
``studies/x.yaml: proxy.steps: Input should be greater than 0 (got -5)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from kdnas.errors import ConfigError, UserError

M = TypeVar("M", bound=pydantic.BaseModel)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with `safe_load` (never constructs arbitrary objects)."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None


def format_validation_error(source: str, err: pydantic.ValidationError) -> str:
    """One line for the first problem of a validation error, plus a count of the others."""
    # A misspelt field shows up twice: as an unknown field and as a missing one; the unknown
    # one is the cause, so it is reported first.
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = first.get("input")
    shown = "" if first["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f" (got {got!r})"
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" [and {err.error_count() - 1} more problem(s)]" if err.error_count() > 1 else ""
    return f"{source}: {loc}: {msg}{shown}{more}"


def validate(model: type[M], data: Any, source: str, context: dict[str, Any] | None = None) -> M:
    """Validate `data` as `model`; any problem becomes one `ConfigError` line naming `source`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level")
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None
    except UserError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_yaml_model(model: type[M], path: Path, context: dict[str, Any] | None = None) -> M:
    """Read and validate a YAML file as `model`."""
    return validate(model, read_yaml(path), str(path), context)
