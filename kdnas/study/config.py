"""The study config (`studies/*.yaml`), validated as a whole before anything runs.

Each component keeps its own typed config (`DataSpec`, `TeacherSpec`, `ProxySpec`, ...); this
module composes them. Relative paths (search space, teacher checkpoint) are resolved against the
study file's folder. Problems become one `ConfigError` line naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from kdnas.catalog import find_space
from kdnas.cost import LatencySpec
from kdnas.data import DataSpec
from kdnas.device import DEVICE_HELP, Acceleration, parse_device
from kdnas.distill import ProxySpec, TrainRecipe
from kdnas.errors import ConfigError
from kdnas.distill.spec import RetrainRecipe
from kdnas.errors import UserError
from kdnas.paths import runs_dir
from kdnas.study.schema import SCHEMA_VERSION, VERSION_KEY
from kdnas.teachers import TeacherSpec
from kdnas.yamlio import read_yaml, validate

Objective = Literal["score", "macs", "params", "latency"]
_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_count(value: Any) -> Any:
    """Accept 600000, 6e5, '600K', '1.5M', '2G' for MAC/param counts (YAML reads '6e5' as a string)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmg]?)\s*", value.lower())
        if not m:
            raise ValueError(f"expected a count like 600000, 6e5, 600K or 1.5M, got '{value}'")
        return int(float(m[1]) * _SUFFIX[m[2]])
    if isinstance(value, float):
        return int(value)
    return value


class Constraints(BaseModel):
    """Hard limits: a student over any of them is never trained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_macs: int | None = Field(None, gt=0, description="multiply-accumulates of one image's forward pass (thop); "
                                 "600000, 6e5, 600K or 1.5M")
    max_params: int | None = Field(None, gt=0, description="parameters; written like max_macs")
    max_latency_ms: float | None = Field(None, gt=0, description="milliseconds per forward pass, measured as the "
                                         "`latency` section says")

    @field_validator("max_macs", "max_params", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return parse_count(value)


class BudgetAdvanced(BaseModel):
    """Budget settings that only an unusual space needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_useless_samples: int = Field(
        1000, gt=0,
        description="end the search after this many samples in a row that are infeasible or already trained: "
        "the space has no feasible new student left (a sample costs milliseconds, a student seconds)",
    )


class Budget(BaseModel):
    """When the search stops: a number of trained students and/or a wall-clock time, or a failure
    that repeats.

    `trials` counts the students trained: a training that failed counts (it spent the time), a trial
    cancelled by an interrupt does not (it is run again). Infeasible and duplicate samples are
    recorded, so the sampler learns from them, but take no place.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(30, gt=0, description="students to train (infeasible and duplicate samples take no place)")
    time_minutes: float | None = Field(None, gt=0, description="stop starting students after this many minutes "
                                       "of this invocation (running ones finish); a rerun continues the study")
    max_failures: int = Field(
        3, gt=0, description="stop after this many trials in a row failed with the same reason (a systematic failure)")
    advanced: BudgetAdvanced = BudgetAdvanced()


class SearchConfig(BaseModel):
    """How the budget is spread over students. `plain`: every student sampled gets the whole proxy
    run. `halving`: multi-objective successive halving (docs/strategies.md): every student gets
    `min_steps`, and the best 1/eta of those at each rung (by Pareto rank of score and cost, spread
    over the cost range) continue to min_steps·eta, min_steps·eta², ... up to the proxy's steps.
    With `screen: similarity`, a rung of no training comes first: every sampled student is scored by
    the similarity proxy at initialisation and only the best 1/eta of those enter the first rung."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Literal["plain", "halving"] = Field(
        "plain", description="plain: each student trained for the whole proxy run; halving: students start with "
        "min_steps and the best continue, rung by rung, to the proxy's steps (budget.trials then counts whole-run "
        "equivalents: the search stops at budget.trials × the proxy's steps student-steps)")
    min_steps: int = Field(30, gt=0, description="halving: proxy steps of the first rung (every student gets these)")
    eta: int = Field(3, ge=2, description="halving: each rung is eta times the one below; a student continues to the "
                     "next when it ranks in the best 1/eta of its rung's students so far (asynchronous, so while "
                     "a rung holds few students more than 1/eta of them continue)")
    screen: Literal["none", "similarity"] = Field(
        "none", description="halving: similarity scores every sampled student at initialisation under "
        "proxy.similarity (no training, no student-steps) and only its best 1/eta enter the first rung, trained "
        "from scratch; at most eta × the first-rung students the budget can train are screened "
        "(docs/strategies.md); none: every sampled student enters the first rung")


class SamplerConfig(BaseModel):
    """Optuna sampler: TPE (multivariate), NSGA-II or random; all seeded from the study seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["tpe", "nsga2", "random"] = Field("tpe", description="tpe (multivariate, constraint-aware), "
                                                     "nsga2 (evolutionary, constraint-aware) or random")
    n_startup_trials: int = Field(10, ge=0, description="TPE: random trials before modelling")
    population_size: int = Field(20, gt=1, description="NSGA-II population")


class ExecutorAdvanced(BaseModel):
    """How trials use a GPU: each setting changes rounding or speed, not the experiment, is ignored
    on the CPU, and may change when a study resumes (docs/gpu.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amp: bool = Field(True, description="bfloat16 autocast on CUDA for proxy runs, the teacher-output cache and "
                      "block training (as retraining's amp); the CPU always runs float32")
    channels_last: bool = Field(False, description="CUDA: students and their batches in the channels-last "
                                "memory layout (off until the GPU check shows a gain)")
    cudnn_benchmark: bool = Field(False, description="CUDA: let cuDNN time its kernels per shape and keep the "
                                  "fastest (off until the GPU check shows a gain)")
    memory_fraction: float | None = Field(
        None, gt=0, le=1, description="local executor with workers_per_device > 1 on CUDA: the share of a GPU's "
        "memory each worker may allocate (torch's per-process cap), so one student's out-of-memory error stays its "
        "own; none: no cap")

    def acceleration(self) -> Acceleration:
        """The settings as the trials' `kdnas.device.Acceleration`."""
        return Acceleration(self.amp, self.channels_last, self.cudnn_benchmark)


class ExecutorConfig(BaseModel):
    """Where trials run. `local`: in this process, one at a time, or with `workers_per_device` > 1
    that many worker processes on each device, trials handed to whichever is free. `ray`: one Ray
    task per trial, as many at once as the cluster's resources allow for the per-trial request.
    (The device is the study's top-level `device`.)"""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local", "ray"] = Field("local", description="local: in this process; ray: Ray tasks on this "
                                          "machine or a cluster")
    workers_per_device: int = Field(
        1, ge=1, description="local: students trained at once on each device (each GPU with device cuda), each in a "
        "worker process that holds the data on its device; 1: in this process, one at a time")
    gpus_per_trial: float = Field(0, ge=0, description="Ray: GPUs per trial; fractions pack students on one GPU")
    cpus_per_trial: float = Field(1, gt=0, description="Ray: CPUs per trial (also the trial's torch threads)")
    ray_address: str | None = Field(None, description="Ray: join this cluster ('auto', host:port); none starts a local Ray")
    max_retries: int = Field(1, ge=0, description="Ray: re-runs of a trial whose worker process died")
    cancel_running_on_interrupt: bool = Field(False, description="Ctrl-C cancels running trials instead of finishing them")
    max_concurrent: int | None = Field(None, gt=0, description="Ray: at most this many trials at once")
    advanced: ExecutorAdvanced = Field(ExecutorAdvanced(), description="mixed precision, memory layout and memory "
                                       "caps on CUDA")

    @model_validator(mode="after")
    def _workers_are_local(self) -> ExecutorConfig:
        if self.kind == "ray" and self.workers_per_device > 1:
            raise ValueError("workers_per_device is the local executor's; with Ray, pack students on a GPU with "
                             "fractional gpus_per_trial (0.25: four per GPU)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _device_moved(cls, data: Any) -> Any:
        # named apart from "unknown field": study files written before the move still say it here
        if isinstance(data, dict) and "device" in data:
            raise ValueError(f"executor.device is now the study's top-level 'device' (write `device: "
                             f"{data['device']}` at the top level of the file)")
        return data


class TeacherTraining(TrainRecipe):
    """How `kdnas teacher train` trains the study's teacher; `auto` lets `kdnas search` do it when
    the checkpoint is missing (the demo's default)."""

    auto: bool = Field(False, description="`kdnas search` trains the teacher with this recipe when its checkpoint "
                       "is missing (else it stops and says how to train it)")
    max_train: int | None = Field(
        None, gt=0,
        description="training images the teacher sees, drawn from the same pool as the students' (never "
        "validation or test); default: the study's own training split. A teacher usually has seen more data "
        "than a short search trains on, and distillation passes that on",
    )


class StudyConfig(BaseModel):
    """A whole study: what to search, how to score, under which budget and constraints, where to store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100,
                      description="the study's name in the storage: `kdnas show NAME`, `kdnas retrain NAME`")
    description: str = Field("", description="one line for people reading the reports")
    seed: int = Field(0, description="seed of the sampler and of every trial (trial N uses seed + N)")
    device: str = Field("auto", description=f"where the teacher, the teacher outputs, the block table, the "
                        f"proxy runs and retraining run: {DEVICE_HELP}; auto is CUDA where this torch sees a "
                        "GPU, else the CPU (kept as written, resolved each run and recorded per trial)")
    data: DataSpec = Field(description="the data set and its splits")
    teacher: TeacherSpec = Field(description="the trained teacher the students learn from (frozen)")
    teacher_training: TeacherTraining = Field(TeacherTraining(), description="how kdnas trains the teacher when it has no checkpoint")
    space: Path = Field(description="search space: the name of a shipped space (mbv2, resnet, mixed, proxyless-cifar) or the path of a space file")
    proxy: ProxySpec = Field(description="the short distillation run that scores each student")
    objectives: list[Objective] = Field(["score", "macs"], description="score (the proxy's, maximised) first, then one or two costs to minimise")
    constraints: Constraints = Field(Constraints(), description="hard limits: a student over any is never trained")
    latency: LatencySpec = Field(LatencySpec(), description="how latency is measured, when an objective or constraint uses it")
    budget: Budget = Field(Budget(), description="when the search stops")
    search: SearchConfig = Field(SearchConfig(), description="how the budget is spread over students: plain or "
                                 "successive halving")
    storage: str | None = Field(None, description="Optuna storage URL; default sqlite:///runs/kdnas.db")
    storage_heartbeat_s: int | None = Field(
        None, ge=0, description="trial heartbeat (s) for several drivers; default 30 on a server DB, off on SQLite; 0 off"
    )
    sampler: SamplerConfig = Field(SamplerConfig(), description="how Optuna proposes students")
    executor: ExecutorConfig = Field(ExecutorConfig(), description="where trials run: this process, or Ray workers")
    retrain: RetrainRecipe | None = Field(None, description="`kdnas retrain` recipe; default RetrainRecipe()")

    @field_validator("objectives", mode="before")
    @classmethod
    def _accuracy_is_score(cls, objs: Any) -> Any:
        # `accuracy` was the first objective's old name (it held the proxy's score all along, the only
        # choice there was), so users' files that still say it keep working
        if isinstance(objs, list) and objs and objs[0] == "accuracy":
            return ["score", *objs[1:]]
        return objs

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, objs: list[str]) -> list[str]:
        if not objs or objs[0] != "score":
            raise ValueError("the first objective must be 'score' (the proxy's score, proxy.advanced.score, maximised)")
        if len(objs) not in (2, 3) or len(set(objs)) != len(objs):
            raise ValueError("give score plus one or two distinct cost objectives: macs, params, latency")
        return objs

    @field_validator("device")
    @classmethod
    def _device(cls, text: str) -> str:
        try:
            return parse_device(text)
        except UserError as err:
            raise ValueError(str(err)) from None

    @field_validator("space")
    @classmethod
    def _space_exists(cls, path: Path, info: ValidationInfo) -> Path:
        # a path (relative to the study file) or the name of a shipped space (`mbv2`)
        base = (info.context or {}).get("base_dir")
        try:
            return find_space(path, Path(base) if base is not None else None)
        except ConfigError as err:
            raise ValueError(str(err)) from None

    @field_validator("teacher")
    @classmethod
    def _teacher_checkpoint(cls, spec: TeacherSpec, info: ValidationInfo) -> TeacherSpec:
        if spec.checkpoint is None:
            return spec
        return spec.model_copy(update={"checkpoint": _resolve(spec.checkpoint, info)})

    @field_validator("data")
    @classmethod
    def _data_root(cls, spec: DataSpec, info: ValidationInfo) -> DataSpec:
        if spec.root is None:
            return spec
        return spec.model_copy(update={"root": _resolve(spec.root, info)})

    @model_validator(mode="after")
    def _hint_needs_features(self) -> StudyConfig:
        if self.reads_teacher_stages and self.teacher.name.count(":") and not self.teacher.feature_modules:
            what = "search.screen similarity" if self.search.screen == "similarity" else f"proxy.method '{self.proxy.method}'"
            raise ValueError(f"{what} with a factory teacher needs teacher.feature_modules")
        return self

    @model_validator(mode="after")
    def _screen_is_a_first_rung(self) -> StudyConfig:
        if self.search.screen == "none":
            return self
        if self.search.strategy != "halving":
            raise ValueError("search.screen is the first rung of successive halving: it needs search.strategy halving")
        if self.proxy.similarity.steps:
            raise ValueError("search.screen similarity scores students at initialisation (it trains nothing): "
                             "remove proxy.similarity.steps")
        return self

    @property
    def compares_features(self) -> bool:
        """Whether students' stage features are compared with the teacher's (hint losses, the similarity
        proxy or screen): the space must declare stages aligned with the teacher's."""
        return self.proxy.method in ("hint", "similarity") or self.search.screen == "similarity"

    @property
    def reads_teacher_stages(self) -> bool:
        """Whether the study reads the teacher's stage features at all: where students' are compared
        with them (`compares_features`) or blocks are trained against them (block-wise). A kd or ce
        study reads the teacher's logits only, so any model serves as its teacher."""
        return self.compares_features or self.proxy.method == "blockwise"

    @model_validator(mode="after")
    def _halving_needs_a_run(self) -> StudyConfig:
        if self.search.strategy == "halving" and self.proxy.method not in ("kd", "hint", "ce"):
            raise ValueError(f"search.strategy halving continues a training run from rung to rung: it needs "
                             f"proxy.method kd, hint or ce, not {self.proxy.method}")
        return self

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL (default: one SQLite file in the runs folder)."""
        return self.storage or f"sqlite:///{runs_dir() / 'kdnas.db'}"

    @property
    def needs_latency(self) -> bool:
        """Latency is measured only when an objective or constraint uses it (it costs time)."""
        return "latency" in self.objectives or self.constraints.max_latency_ms is not None

    def resolved(self) -> dict[str, Any]:
        """The config with every default filled in, as JSON-able data (saved with the results)."""
        # `retrain` is kept (so `kdnas retrain NAME` finds the recipe) but never compared on resume: it
        # does not change what the search means (storage._RESUMABLE_FIELDS).
        out = self.model_dump(mode="json", exclude_none=False)
        if self.retrain is None:
            out.pop("retrain")
        out[VERSION_KEY] = SCHEMA_VERSION  # how a later kdnas knows which migrations a stored copy needs
        if self.proxy.method != "blockwise":
            # the block-wise settings mean nothing to other proxies; leaving them out keeps studies
            # stored before they existed resumable
            out["proxy"].pop("blockwise", None)
        if self.proxy.method != "similarity" and self.search.screen != "similarity":
            out["proxy"].pop("similarity", None)  # the same for the similarity settings
        else:
            out["proxy"]["advanced"].pop("score", None)  # the similarity ranks; a stored score would contradict it
        return out


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    path = Path(path).expanduser()
    if path.is_absolute() or base is None:
        return path
    candidate = Path(base) / path
    return candidate if candidate.exists() or not path.exists() else path


def load_study_config(path: Path) -> StudyConfig:
    """Read and validate a study file; relative paths resolve against its folder."""
    path = Path(path)
    return validate(StudyConfig, read_yaml(path), str(path), context={"base_dir": path.parent})


def config_from_dict(data: dict[str, Any], source: str = "<config>", base_dir: Path | None = None) -> StudyConfig:
    """Validate an in-memory config (tests, the stored copy of a study's config)."""
    return validate(StudyConfig, data, source, context={"base_dir": base_dir})
