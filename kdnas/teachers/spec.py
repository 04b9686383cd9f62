"""TeacherSpec: which teacher a study distils from, and where its weights are."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kdnas.teachers.factory import has_target_form, is_factory_target
from kdnas.teachers.registry import is_registered, unknown_teacher_message


class TeacherSpec(BaseModel):
    """A teacher: a zoo name or a ``package.module:function`` factory, its options and checkpoint.

    ``kwargs`` are passed to the zoo function or factory (``num_classes``, ``in_channels`` and
    ``input_size`` come from the data set, not from here). ``feature_modules`` names the
    stage-boundary submodules (high to low resolution) of a user's model that lacks a
    ``feature_modules`` attribute; it overrides the attribute where both exist.
    Names are checked here so a bad config fails when it is loaded, not mid-search; a factory
    target is only checked for its form, because importing it runs user code.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="a zoo name (kdnas teacher list) or your factory, package.module:function")
    checkpoint: Path | None = Field(None, description="its weights: a state dict or a kdnas checkpoint, read with "
                                    "weights_only=True (relative: to the study file); none: trained by kdnas")
    kwargs: dict[str, int | float | str | bool] = Field({}, description="more arguments of the zoo function or factory")
    feature_modules: tuple[str, ...] | None = Field(None, description="your model's stage-boundary submodules, high "
                                                    "to low resolution (proxy.method hint needs them)")

    @field_validator("name")
    @classmethod
    def _known_name(cls, v: str) -> str:
        if is_factory_target(v):
            if not has_target_form(v):
                raise ValueError(f"teacher factory {v!r} is not of the form 'package.module:function'")
        elif not is_registered(v):
            raise ValueError(unknown_teacher_message(v))
        return v

    @field_validator("feature_modules")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and (not v or any(not n for n in v)):
            raise ValueError("feature_modules must list one or more module names")
        return v
