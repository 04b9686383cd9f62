"""A latency table: a block space's parts each measured once, in context, so that the latency of any
of its students is a sum of lookups (OFA's and FBNet's per-layer tables, done per stage choice).

The parts of a student are its stem (by width), each stage's choice *with the width that enters
it* (the width of the last non-skip stage before it, or the stem's: a stage's first block costs
what its input channels make it cost), and its tail (last width, head width: head conv, pool,
classifier). Every part runs at the resolution it has in the student.

How a part's share is isolated: by difference, in context. A stage entry is how much longer a tiny
model ``prefix + stage`` takes than ``prefix`` alone, at the stage's input resolution, where the
prefix is what feeds the stage in a student: before stage 0 the stem itself; before a later stage a
3x3 conv from the image channels and one block of the stage before (`predecessor`), both of the
stage's input width. The tail likewise, and the stem against a model that returns its input (the
session overhead, timed alone and added once). A part timed on its own would carry costs the whole
student pays once, not per part: the session call, the copy of its input and output, and (ONNX
Runtime on the CPU) the reorders into and out of its blocked NCHWc layout. Timed alone, 8 `mbv2`
students summed 10-30% over their measured latency; by difference those costs cancel (a stage's
difference carries the output cost of its own width minus that of its input width, which telescopes
along the student to the last width's minus the stem's, which the tail's and the stem's entries then
cancel). A bare conv as the prefix left the entries 5-15 us per stage above the stage's increment
inside a student: ONNX Runtime lays a tensor out by its producer and consumers, and a block's output
is laid out as a block's, not as a lone conv's. So

    predicted latency = overhead + stem + sum of stage entries + tail.

The two models of a difference are timed together, in alternating blocks of runs
(`kdnas.cost.latency.measure_difference`), not one after the other: a part is often a tenth of its
prefix, so a drift of a few percent between two separate timings (another process, the clock) made
entries off by several times the part, even negative, and cheap students' predictions 40% low
(docs/research/latency-table.md). Timed together, both models see the same drift.

Every entry is one record under ``runs/cache/latency/<setting>/``, where the setting is all a
figure depends on besides the model (backend, provider, device, threads, batch size, warm-up,
repeats, torch and onnxruntime versions, CPU model): shared by every study, space and driver on
that machine through `kdnas.claims` (one process times a part, the others wait for it or time
the next one). A table of a space is assembled from them; with all present, building times nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from kdnas.arch import Arch, Stage
from kdnas.claims import obtain
from kdnas.cost.latency import LatencySpec, check_latency_device, measure_difference, measure_latency
from kdnas.device import cpu_model
from kdnas.log import note
from kdnas.paths import cache_dir
from kdnas.space.blocks import conv_bn
from kdnas.space.builder import StudentTail, build_stage
from kdnas.space.space import SearchSpace, StageChoices

TABLE_VERSION = "latency-table-v4"  # v2: stages after a block of the space; v3: 400 ONNX Runtime runs, not 100;
# v4: each entry's two models timed together in alternating blocks, one record per entry
# A table entry is a difference of two timings, so it carries the noise of both: its models are
# small and quick to time, so each gets at least this many timed runs whatever the spec says. For
# ONNX Runtime 400 rather than 100: 4-6 points more of `mbv2` within +-10% against the same
# measurements, for about twice the build time (docs/research/latency-table.md); torch untried.
TABLE_MIN_REPEATS = {"onnxruntime": 400, "torch": 100}

Shape = tuple[int, int, int]


def table_spec(spec: LatencySpec) -> LatencySpec:
    """The spec the table's models are timed with: `spec`, with at least its backend's `TABLE_MIN_REPEATS`."""
    return spec.model_copy(update={"repeats": max(spec.repeats, TABLE_MIN_REPEATS[spec.backend])})


def setting(spec: LatencySpec) -> dict[str, object]:
    """Everything besides the model that a latency figure depends on (its runtime, where it runs,
    how it is timed, and the machine): the key of the folder of timed parts."""
    import onnxruntime
    import torch

    t = table_spec(spec)
    return {"version": TABLE_VERSION, "backend": t.backend, "provider": check_latency_device(t), "device": t.device,
            "threads": t.threads, "batch_size": t.batch_size, "warmup": t.warmup, "repeats": t.repeats,
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "cpu": cpu_model()}


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def setting_key(spec: LatencySpec) -> str:
    """Short hash of `setting(spec)`: the cache folder of the parts timed with it."""
    return _digest(setting(spec))


def table_key(space: SearchSpace, input_shape: Shape, num_classes: int, spec: LatencySpec) -> str:
    """The identity of one table: the space's choices, the input shape, the classes and the setting."""
    choices = space.model_dump(mode="json", exclude={"name", "description"})
    return _digest({"space": choices, "input": list(input_shape), "classes": num_classes, "setting": setting(spec)})


class _Overhead(nn.Module):
    # The cheapest model with the student's input: a session call that does (almost) nothing.
    def forward(self, x):  # noqa: ANN001, ANN201
        return x.flatten(1)[:, :1]


@dataclass(frozen=True)
class _Timed:
    """One record of the table: its file name (it says what the model is), how to build the model,
    and the model it is timed against (None: timed alone, the overhead)."""

    name: str
    build: Callable[[], nn.Module]
    shape: Shape
    minus: _Timed | None = None


@dataclass
class LatencyTable:
    """Per-part latencies (ms) of a space for one input shape and one latency setting; a student's
    predicted latency is `overhead_ms` plus its parts' entries (`predict`).

    - `stem[w]`: the stem of width w; `tail[(w, head)]`: the tail after a last width w.
    - `stages[j][(choice, c_in)]`: stage j's choice entered by c_in channels (a skip costs 0).
    - `measured`: models timed by this build; `cached`: read from the cache; `by_others`: timed
      meanwhile by another process (a claim); `wall_s`: the build's time.
    """

    key: str
    input_shape: Shape
    setting: dict
    overhead_ms: float = 0.0
    stem: dict[int, float] = field(default_factory=dict)
    stages: list[dict[tuple[Stage, int], float]] = field(default_factory=list)
    tail: dict[tuple[int, int], float] = field(default_factory=dict)
    measured: int = 0
    cached: int = 0
    by_others: int = 0
    wall_s: float = 0.0
    timed_s: float = 0.0  # seconds spent timing parts, cached ones included (as timed when each was made)

    def stage_ms(self, j: int, stage: Stage, c_in: int) -> float:
        """Stage j's entry for `stage` entered by `c_in` channels (0 for a skip)."""
        return 0.0 if stage.op == "skip" else self.stages[j][(stage, c_in)]

    def parts(self, arch: Arch) -> list[tuple[str, float]]:
        """The entries `arch`'s prediction sums, by name (overhead first)."""
        out = [("overhead", self.overhead_ms), (f"stem_c{arch.stem}", self.stem[arch.stem])]
        width = arch.stem
        for j, st in enumerate(arch.stages):
            out.append((f"{j}:{st.to_str()}<c{width}", self.stage_ms(j, st, width)))
            if st.op != "skip":
                width = st.width
        out.append((f"tail_c{width}_head_c{arch.head}", self.tail[(width, arch.head)]))
        return out

    def predict(self, arch: Arch) -> float:
        """Predicted latency of `arch` in ms: the sum of its entries and the overhead."""
        return sum(ms for _, ms in self.parts(arch))


def _name(kind: str, shape: Shape, **dims: object) -> str:
    return "_".join([kind, *(f"{k}{v}" for k, v in dims.items()), "x".join(map(str, shape))])


def predecessor(stage: StageChoices, width: int) -> Stage:
    """The block that precedes a stage in the model its entry is timed in: the previous stage's first
    op with its smallest kernel and expansion, `width` wide, stride 1, depth 1."""
    op = next(o for o in stage.op if o != "skip")
    return Stage.make(op, 1, min(stage.kernel), min(stage.expand), width, 1)


def _plan(space: SearchSpace, input_shape: Shape, num_classes: int) -> dict[tuple, _Timed]:
    """What to time for `space`: {entry: the record that gives it}, entries keyed as in `LatencyTable`
    (``("overhead",)``, ``("stem", w)``, ``("stage", j, stage, c_in)``, ``("tail", w, head)``)."""
    c, h, w = input_shape
    models: dict[str, _Timed] = {}  # by name; a prefix is built only to be timed against

    def model(name: str, build: Callable[[], nn.Module], shape: Shape, minus: _Timed | None = None) -> _Timed:
        return models.setdefault(name, _Timed(name, build, shape, minus))

    def prefix(j: int, width: int, hw: tuple[int, int]) -> _Timed:
        # What precedes stage j (or the tail, j = len(stages)) in a student: the stem itself before
        # stage 0; else a stem and one block of the stage before, of width `width`, so that the
        # stage's input comes from a block, as in a student (after a bare conv the differences came
        # out 5-15 us higher per stage on ONNX Runtime, which lays tensors out by their producer).
        if j == 0:
            return model(_name("stem", (c, *hw), c=width), lambda: conv_bn(c, width, 3), (c, *hw))
        pred = predecessor(space.stages[j - 1], width)
        return model(_name(f"prefix_{pred.to_str()}", (c, *hw)),
                     lambda: nn.Sequential(conv_bn(c, width, 3), build_stage(pred, width)), (c, *hw))

    plan: dict[tuple, _Timed] = {}
    overhead = plan[("overhead",)] = model(_name("overhead", input_shape), _Overhead, input_shape)
    for width in space.stem:
        plan[("stem", width)] = model(_name("stem", input_shape, c=width), lambda width=width: conv_bn(c, width, 3),
                                      input_shape, overhead)
    hw = (h, w)
    widths = space.input_widths()
    for j, sc in enumerate(space.stages):
        for st in sorted(sc.distinct()):
            if st.op == "skip":
                continue
            for c_in in sorted(widths[j]):
                before = prefix(j, c_in, hw)

                def build(st: Stage = st, before: _Timed = before, c_in: int = c_in) -> nn.Module:
                    return nn.Sequential(before.build(), build_stage(st, c_in))

                plan[("stage", j, st, c_in)] = model(f"{before.name}+{st.to_str()}", build, (c, *hw), before)
        hw = (math.ceil(hw[0] / sc.stride), math.ceil(hw[1] / sc.stride))
    for width in sorted(widths[-1]):
        before = prefix(len(space.stages), width, hw)
        for head in space.head:
            def tail(width: int = width, head: int = head, before: _Timed = before) -> nn.Module:
                return nn.Sequential(before.build(), StudentTail(width, head, num_classes))

            plan[("tail", width, head)] = model(f"{before.name}+tail_head{head}_classes{num_classes}", tail,
                                                (c, *hw), before)
    return plan


def _records(plan: dict[tuple, _Timed]) -> list[_Timed]:
    """The plan's records, each once (the stem's record is also stage 0's prefix, never timed as one)."""
    return list({t.name: t for t in plan.values()}.values())


def assemble(table: LatencyTable, plan: dict[tuple, _Timed], value: Callable[[_Timed], float]) -> None:
    """Fill `table`'s entries from `plan`, each entry's figure given by `value` of its record."""
    for entry, t in plan.items():
        v = value(t)
        if entry[0] == "overhead":
            table.overhead_ms = v
        elif entry[0] == "stem":
            table.stem[entry[1]] = v
        elif entry[0] == "stage":
            table.stages[entry[1]][(entry[2], entry[3])] = v
        else:
            table.tail[(entry[1], entry[2])] = v


def missing_parts(space: SearchSpace, input_shape: Shape, num_classes: int, spec: LatencySpec, *,
                  cache: Path | None = None) -> int:
    """How many of the table's models are not timed yet (0: building it times nothing)."""
    folder = (cache or cache_dir() / "latency") / setting_key(spec)
    return sum(not (folder / f"{t.name}.json").is_file() for t in _records(_plan(space, input_shape, num_classes)))


def build_latency_table(space: SearchSpace, input_shape: Shape, num_classes: int, spec: LatencySpec, *,
                        cache: Path | None = None, verbose: bool = False) -> LatencyTable:
    """Time (or read from the cache) every part of `space` at `input_shape` with `spec`'s setting;
    see the module doc. A part another process is timing is left for last and then waited for."""
    t_start = time.perf_counter()
    spec_t = table_spec(spec)
    folder = (cache or cache_dir() / "latency") / setting_key(spec)
    plan = _plan(space, input_shape, num_classes)
    records = _records(plan)
    table = LatencyTable(table_key(space, input_shape, num_classes, spec), input_shape, setting(spec),
                         stages=[{} for _ in space.stages])
    ms: dict[str, float] = {}

    def make(t: _Timed) -> Callable[[], dict]:
        def run() -> dict:
            t0 = time.perf_counter()
            if t.minus is None:
                lat = measure_latency(t.build().eval(), t.shape, spec_t)
                figures: dict[str, object] = {"ms": lat.median_ms, "p90_ms": lat.p90_ms}
            else:
                diff, model_ms, minus_ms = measure_difference(t.build().eval(), t.minus.build().eval(), t.shape, spec_t)
                figures = {"ms": diff, "minus": t.minus.name, "model_ms": model_ms, "minus_ms": minus_ms}
            return {"name": t.name, **figures, "timed_s": time.perf_counter() - t0, "setting": table.setting}
        return run

    def record(t: _Timed, rec: dict, made: bool, now: bool) -> None:
        ms[t.name] = float(rec["ms"])
        table.timed_s += float(rec.get("timed_s", 0.0))
        if made:
            table.measured += 1
        elif now:
            table.by_others += 1
        else:
            table.cached += 1

    deferred: list[_Timed] = []
    for i, t in enumerate(records):
        path = folder / f"{t.name}.json"
        now = not path.is_file()
        got = obtain(path, make(t), wait=False)
        if got is None:
            deferred.append(t)
            continue
        record(t, *got, now=now)
        if verbose and got[1] and (table.measured % 25 == 0):
            note(f"  latency table: {i + 1}/{len(records)} parts timed or read")
    for t in deferred:
        record(t, *obtain(folder / f"{t.name}.json", make(t)), now=True)  # type: ignore[misc]
    assemble(table, plan, lambda t: ms[t.name])  # each record a difference already, but the overhead's
    table.wall_s = time.perf_counter() - t_start
    if verbose:
        others = f", {table.by_others} by other processes" if table.by_others else ""
        note(f"latency table: {len(records)} parts ({table.measured} timed, {table.cached} cached{others}) "
             f"in {table.wall_s:.1f}s; overhead {table.overhead_ms * 1e3:.1f} us")
    return table
