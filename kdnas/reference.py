"""The configuration reference, generated from the pydantic models: `python -m kdnas.reference`.

`render(StudyConfig)` walks the study config and every model it composes (through optional, union,
list, tuple and dict fields too), depth first, and writes one Markdown section per model: its
docstring, then a table of field, type (with its bounds), default and description. The page in
docs/configuration.md is this output, and a test fails when the two differ, so the reference cannot
drift from the code that validates a study.

A section is marked *advanced* when the field that holds it is named `advanced`, or when the model
or the field says so with `json_schema_extra={"advanced": True}`; everything below an advanced
section is advanced too. Nothing here knows the study schema itself: any pydantic model renders.
"""

from __future__ import annotations

import enum
import inspect
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: How a bound from `Field(gt=..., ...)` reads in the type column.
_BOUNDS: tuple[tuple[type, str, str], ...] = (
    (at.Gt, "gt", "> {}"), (at.Ge, "ge", "≥ {}"), (at.Lt, "lt", "< {}"), (at.Le, "le", "≤ {}"),
    (at.MinLen, "min_length", "length ≥ {}"), (at.MaxLen, "max_length", "length ≤ {}"),
)


@dataclass
class _Section:
    """One model as it appears in the page: where it sits in the config, and whether it is advanced."""

    model: type[BaseModel]
    paths: list[str] = field(default_factory=list)
    advanced: bool = False


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation refers to, in order: `X`, `X | None`, `list[X]`, `dict[str, X]`..."""
    if _is_model(annotation):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _flagged_advanced(obj: Any) -> bool:
    extra = obj.model_config.get("json_schema_extra") if _is_model(obj) else getattr(obj, "json_schema_extra", None)
    return isinstance(extra, dict) and bool(extra.get("advanced"))


def _field_advanced(name: str, info: FieldInfo) -> bool:
    return name == "advanced" or _flagged_advanced(info)


def collect(root: type[BaseModel]) -> list[_Section]:
    """Every model reachable from `root`, depth first in field order, each once, with its paths."""
    sections: dict[type[BaseModel], _Section] = {}

    def visit(model: type[BaseModel], path: str, advanced: bool) -> None:
        advanced = advanced or _flagged_advanced(model)
        seen = model in sections
        section = sections.setdefault(model, _Section(model, advanced=advanced))
        section.paths.append(path)
        section.advanced = section.advanced and advanced  # advanced only where it is advanced everywhere
        if seen:
            return
        for name, info in model.model_fields.items():
            for sub in _models_in(info.annotation):
                visit(sub, f"{path}.{name}" if path else name, advanced or _field_advanced(name, info))

    visit(root, "", False)
    return list(sections.values())


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def type_text(annotation: Any) -> str:
    """A short readable type: int, float | null, `kd` | `hint`, list of `accuracy` | `macs`."""
    if annotation is type(None):
        return "null"
    if _is_model(annotation):
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        return f"list of {type_text(items[0])}" if items else "list"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}" if args else "mapping"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def bounds_text(info: FieldInfo) -> str:
    """The field's bounds and pattern (`> 0`, `≥ 0, < 1`), empty when it has none."""
    parts = []
    for meta in info.metadata:
        for kind, attr, fmt in _BOUNDS:
            if isinstance(meta, kind):
                parts.append(fmt.format(getattr(meta, attr)))
        pattern = getattr(meta, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def default_text(info: FieldInfo) -> str:
    """The default as it would be written in YAML; `required` when there is none."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "**required**"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(its defaults)"
    return f"`{_yaml_value(value)}`"


def _yaml_value(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    return value if isinstance(value, str) and value else json.dumps(value, default=str)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _docstring(model: type[BaseModel]) -> str:
    """The model's own summary: the first paragraph of its docstring (the rest is for developers)."""
    doc = model.__dict__.get("__doc__")  # its own, not one inherited from BaseModel or a parent
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()) if doc else ""


def render_section(section: _Section) -> list[str]:
    """One model's heading, docstring and field table."""
    model = section.model
    title = ", ".join(f"`{p}`" for p in section.paths) if section.paths != [""] else "Top level"
    lines = [f'<a id="{_anchor(model)}"></a>', "",
             f"## {title}{' (advanced)' if section.advanced else ''}", "",
             f"Model: `{model.__module__}.{model.__name__}`." + (" Advanced: the defaults suit most studies."
                                                                 if section.advanced else ""), ""]
    doc = _docstring(model)
    if doc:
        lines += [doc, ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        typ = type_text(info.annotation)
        bounds = bounds_text(info)
        typ = f"{typ} ({bounds})" if bounds else typ
        note = _cell(info.description or "")
        if _field_advanced(name, info) and not section.advanced:
            note = f"advanced. {note}".strip()
        lines.append(f"| `{name}` | {_cell(typ)} | {_cell(default_text(info))} | {note} |")
    return lines + [""]


def render(root: type[BaseModel], title: str = "Configuration reference") -> str:
    """The whole reference page for `root` and every model it composes."""
    sections = collect(root)
    lines = [f"# {title}", "",
             "<!-- Generated by `python -m kdnas.reference > docs/configuration.md`; do not edit by hand. -->", "",
             f"Every field of a study file, from the models that validate it (`{root.__module__}.{root.__name__}`). "
             "A study file is YAML; a field left out takes its default. Sections marked *advanced* hold "
             "settings whose defaults suit most studies.", "",
             "Sections: " + ", ".join(f"[{'/'.join(s.paths) or 'study'}](#{_anchor(s.model)})" for s in sections), ""]
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    """Print the study configuration reference (Markdown) on stdout."""
    from kdnas.study.config import StudyConfig

    sys.stdout.write(render(StudyConfig))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
