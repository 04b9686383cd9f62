"""Search an NNI model space (``nni.nas.nn.pytorch.ModelSpace``) with kdnas's own search loop.

A space file of kind ``nni`` names a factory (a hub space such as
``nni.nas.hub.pytorch:ProxylessNAS`` or a user's ``package.module:Class``) and its arguments::

    kind: nni
    name: proxyless-cifar
    factory: nni.nas.hub.pytorch:ProxylessNAS
    args: {width_mult: 0.5}

The space's mutables (``simplify()``) become Optuna parameters: a ``Categorical`` is a
categorical parameter, a bounded ``Numerical`` an int/float range (``quantize`` as step, log
scale where log-distributed); a ``CategoricalMultiple`` is expanded to one yes/no choice per
value plus NNI's own count constraint. A sample is turned into a plain network with the space's
``freeze(sample)``, after NNI's ``check_contains`` (so NNI constraints are honoured: a sample
outside the space, or one ``freeze`` rejects, fails its trial with the reason). The canonical
text of an architecture is the sample as compact JSON with sorted keys, which is exactly the dict
``freeze`` accepts.

Only ``nni.mutable`` and ``nni.nas.nn.pytorch`` (with the hub spaces) are used; NNI's experiment
engine, strategies, evaluators, web UI and nn-Meter are not. nni is imported only here, and only
when a space of kind ``nni`` is loaded (see docs/nni.md).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from kdnas.errors import ConfigError, TrialFailure
from kdnas.space.protocol import TrialLike

_PRIMITIVE = (str, int, float, bool, type(None))
INSTALL_HINT = 'pip install -e ".[nni]" && pip install --no-deps nni==3.0 (or: make setup)'


class NniSpaceSpec(BaseModel):
    """A space file of kind ``nni``: which NNI model space to build, with which arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["nni"]
    name: str
    description: str = ""
    factory: str = Field(description="package.module:Class of an NNI ModelSpace (or a function returning one)")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the factory")

    @field_validator("factory")
    @classmethod
    def _target_form(cls, target: str) -> str:
        from kdnas.teachers.factory import has_target_form

        if not has_target_form(target):
            raise ValueError("must be of the form 'package.module:Class'")
        return target


def _import_nni() -> None:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
            importlib.import_module("nni.nas.nn.pytorch")
    except ImportError as err:
        raise ConfigError(f"NNI model spaces need nni 3.0, which cannot be imported ({err}); install it: {INSTALL_HINT}") from None


def _load_factory(target: str) -> Any:
    from kdnas.teachers.factory import load_factory

    module_name = target.split(":", 1)[0]
    if module_name == "nni" or module_name.startswith("nni."):
        _import_nni()  # say "install nni" rather than "no module named nni"
    # nni 3.0 warns on import that newer torch.nn holds non-Module classes; harmless, so not shown.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
        return load_factory(target, what="NNI space factory")


def _parameters(factory: Any) -> dict[str, inspect.Parameter] | None:
    # ModelSpace wraps __init__ as (*args, **kwargs); NNI keeps the original as `_init_wrapped`.
    fn = getattr(factory, "_init_wrapped", None) or factory
    try:
        params = dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
    params.pop("self", None)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None  # takes anything: pass nothing we were not asked to
    return params


def _call_args(factory: Any, args: dict[str, Any], in_channels: int, num_classes: int) -> dict[str, Any]:
    """The factory's arguments: the file's, plus the data's class count (``num_classes`` or NNI's
    ``num_labels``) and ``in_channels`` where the signature takes them and the file does not set them."""
    params = _parameters(factory) or {}
    out = dict(args)
    for name, value in (("num_classes", num_classes), ("num_labels", num_classes), ("in_channels", in_channels)):
        if name in params and name not in out:
            out[name] = value
    return out


@functools.lru_cache(maxsize=8)
def _model_space(factory: str, args_json: str, in_channels: int, num_classes: int) -> Any:
    """The NNI model space, built once per process (workers build their own)."""
    fn = _load_factory(factory)
    args = _call_args(fn, json.loads(args_json), in_channels, num_classes)
    try:
        space = fn(**args)
    except Exception as err:  # noqa: BLE001 - a space that cannot be built is a config problem
        first = (str(err).splitlines() or [""])[0]
        raise ConfigError(f"NNI space factory {factory!r} failed with arguments {args}: {type(err).__name__}: {first}") from None
    from nni.mutable import Mutable

    if not isinstance(space, nn.Module) or not isinstance(space, Mutable):
        raise ConfigError(f"NNI space factory {factory!r} returned {type(space).__name__}, not an NNI ModelSpace")
    return space


def sample_text(sample: dict[str, Any]) -> str:
    """Canonical text of a sample: compact JSON, keys sorted."""
    return json.dumps(sample, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class NniSample:
    """A sampled architecture of an NNI space; ``str()`` is its canonical text."""

    text: str

    def __str__(self) -> str:
        return self.text

    @property
    def sample(self) -> dict[str, Any]:
        """The dict ``freeze`` accepts."""
        return json.loads(self.text)


def _is_leaf(mutable: Any) -> bool:
    # Categorical and Numerical are parameters; CategoricalMultiple is expanded into one yes/no
    # Categorical per value (plus NNI's count constraint) so that Optuna only sees plain choices.
    from nni.mutable import CategoricalMultiple, MutableSymbol

    return isinstance(mutable, MutableSymbol) and not isinstance(mutable, CategoricalMultiple)


@dataclass(frozen=True)
class NniBuilder:
    """Picklable: rebuilds the NNI space in whichever process it runs in, then freezes samples."""

    factory: str
    args_json: str

    def space(self, in_channels: int, num_classes: int) -> Any:
        return _model_space(self.factory, self.args_json, in_channels, num_classes)

    def decode(self, text: str, in_channels: int, num_classes: int) -> dict[str, Any]:
        """The sample of `text`, with JSON values mapped back to the space's own choice objects
        (a tuple choice comes back from JSON as a list, which ``freeze`` would not recognise)."""
        from nni.mutable import Categorical

        try:
            sample = json.loads(text)
        except json.JSONDecodeError as err:
            raise TrialFailure(f"not an NNI sample (JSON): {err}") from None
        if not isinstance(sample, dict):
            raise TrialFailure("not an NNI sample: expected a JSON object of label -> value")
        for label, mutable in _mutables(self, in_channels, num_classes).items():
            if isinstance(mutable, Categorical) and label in sample:
                want = json.dumps(sample[label], sort_keys=True)
                for value in mutable.values:
                    if json.dumps(value, sort_keys=True, default=repr) == want:
                        sample[label] = value
                        break
        return sample

    def __call__(self, text: str, in_channels: int, num_classes: int) -> nn.Module:
        space = self.space(in_channels, num_classes)
        sample = self.decode(text, in_channels, num_classes)
        problem = space.check_contains(sample)
        if problem is not None:
            raise TrialFailure(f"sample outside the NNI space: {type(problem).__name__}: {_first_line(problem)}")
        try:
            return space.freeze(sample)
        except Exception as err:  # noqa: BLE001 - whatever freeze raises, only this trial fails
            raise TrialFailure(f"NNI freeze rejected the sample: {type(err).__name__}: {_first_line(err)}") from None


@functools.lru_cache(maxsize=8)
def _mutables(builder: NniBuilder, in_channels: int, num_classes: int) -> dict[str, Any]:
    # simplify() walks the whole space; once per process is enough.
    return dict(builder.space(in_channels, num_classes).simplify(_is_leaf))


def _first_line(err: BaseException) -> str:
    return ((str(err).strip().splitlines() or [""])[0])[:300]


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass
class NniSpace:
    """An NNI model space adapted to kdnas's `Space` protocol (see the module docstring)."""

    spec: NniSpaceSpec
    in_channels: int = 3
    num_classes: int = 10
    source: str = "<nni space>"
    kind: str = "nni"

    @property
    def name(self) -> str:
        return self.spec.name

    def bind(self, in_channels: int, num_classes: int) -> NniSpace:
        """This space for data with `in_channels` and `num_classes`: built and checked (ConfigError)."""
        space = NniSpace(self.spec, in_channels, num_classes, self.source)
        try:
            space.check()
        except ConfigError as err:
            raise ConfigError(f"{self.source}: {err}") from None
        return space

    def builder(self) -> NniBuilder:
        return NniBuilder(self.spec.factory, json.dumps(self.spec.args, sort_keys=True))

    @property
    def model_space(self) -> Any:
        """The NNI ModelSpace (built on first use, cached per process)."""
        return self.builder().space(self.in_channels, self.num_classes)

    def mutables(self) -> dict[str, Any]:
        """Label -> NNI mutable (parameters and constraints), in the space's order."""
        return _mutables(self.builder(), self.in_channels, self.num_classes)

    def check(self) -> None:
        """Raise ConfigError when a mutable cannot be an Optuna parameter (before any trial)."""
        from nni.mutable import Categorical, Constraint, MutableAnnotation, Numerical

        for label, m in self.mutables().items():
            if isinstance(m, Categorical):
                if not all(_json_ok(v) for v in m.values):
                    raise ConfigError(f"NNI space '{self.name}': choices of '{label}' are not JSON values: {m.values!r}")
            elif isinstance(m, Numerical):
                if not (math.isfinite(m.low) and math.isfinite(m.high)):
                    raise ConfigError(f"NNI space '{self.name}': numerical '{label}' needs finite low and high "
                                      "(normal and custom distributions cannot be searched by Optuna)")
            elif not isinstance(m, (Constraint, MutableAnnotation)):
                raise ConfigError(f"NNI space '{self.name}': mutable '{label}' of type {type(m).__name__} is not supported")

    def size(self) -> int | None:
        """Product of the choice counts (constraints not applied), or None with a continuous parameter."""
        from nni.mutable import Categorical

        n = 1
        for m in self.mutables().values():
            if isinstance(m, Categorical):
                n *= len(m.values)
            elif not _is_constraint(m):
                return None
        return n

    def suggest(self, trial: TrialLike) -> NniSample:
        """Suggest every parameter (a static space, as multivariate TPE and NSGA-II need)."""
        from nni.mutable import Categorical, Numerical

        sample: dict[str, Any] = {}
        for label, m in self.mutables().items():
            if isinstance(m, Categorical):
                if all(isinstance(v, _PRIMITIVE) for v in m.values):
                    sample[label] = trial.suggest_categorical(label, list(m.values))
                else:  # Optuna stores only primitives: choose the index
                    sample[label] = m.values[trial.suggest_categorical(label, list(range(len(m.values))))]
            elif isinstance(m, Numerical):
                sample[label] = _suggest_numerical(trial, label, m)
        return NniSample(sample_text(sample))

    def resolutions(self, input_hw: tuple[int, int]) -> None:
        """Unknown: an NNI space has no declared stages, so no stage-wise (hint) losses."""
        return None

    def summary(self) -> list[str]:
        """One line per mutable, for `kdnas space show`."""
        return [f"{label}: {m!r}" for label, m in self.mutables().items()]


def _is_constraint(m: Any) -> bool:
    from nni.mutable import MutableAnnotation

    return isinstance(m, MutableAnnotation)


def _suggest_numerical(trial: Any, label: str, m: Any) -> float | int:
    q = m.quantize
    ints = q is not None and float(q).is_integer() and float(m.low).is_integer() and float(m.high).is_integer()
    if ints and not m.log_distributed:
        return trial.suggest_int(label, int(m.low), int(m.high), step=int(q))
    if m.log_distributed or q is None:
        value = trial.suggest_float(label, m.low, m.high, log=m.log_distributed)
        return m.qclip(value) if q is not None else value
    return m.qclip(trial.suggest_float(label, m.low, m.high, step=q))


def load_nni_space(data: dict[str, Any], path: Path) -> NniSpace:
    """Validate an ``nni`` space file's data and import its factory (cheap: nothing is built yet;
    `NniSpace.bind` builds the space once the data's channels and classes are known)."""
    from kdnas.yamlio import validate

    spec = validate(NniSpaceSpec, data, str(path))
    try:
        _load_factory(spec.factory)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return NniSpace(spec, source=str(path))
