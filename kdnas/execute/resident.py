"""A worker's resident context: the study's data and teacher outputs on the worker's device, once.

Every trial of a search reads the same training and validation splits, the teacher's cached logits
and features, and (similarity proxy) the probe batch. A worker moves them to its device once, when
it starts (`on_device`), and every trial it runs indexes them there: nothing is copied per trial or
per step. On the CPU the resident context *is* the driver's: `Tensor.to("cpu")` of a CPU tensor is
the tensor itself, so no byte moves.

A context crosses a process boundary as numpy arrays (`pack` / `unpack`): Ray's object store hands
numpy arrays to every task of a node without copying them (torch tensors it would copy per task),
and a spawned worker process receives them once. `landed` keeps the unpacked, device-resident
context of the latest packed one per process, so a Ray worker process that runs many trials moves
the data once.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch

from kdnas.distill import TeacherOutputs
from kdnas.distill.probe import Probe
from kdnas.execute.task import ProxyContext

_SPLITS = ("x_train", "y_train", "x_val", "y_val")


def tensors(ctx: ProxyContext) -> dict[str, torch.Tensor]:
    """Every tensor of `ctx` by a path name (``x_train``, ``teacher.features.2``, ``probe.x``, ...)."""
    out = {name: getattr(ctx, name) for name in _SPLITS}
    if ctx.teacher is not None:
        out["teacher.logits"] = ctx.teacher.logits
        out.update({f"teacher.features.{s}": f for s, f in ctx.teacher.features.items()})
    if ctx.probe is not None:
        out["probe.x"], out["probe.teacher_logits"] = ctx.probe.x, ctx.probe.teacher_logits
        out.update({f"probe.teacher_features.{s}": f for s, f in ctx.probe.teacher_features.items()})
    return out


def with_tensors(ctx: ProxyContext, new: dict[str, torch.Tensor]) -> ProxyContext:
    """`ctx` with its tensors replaced by those of `new` (keyed as `tensors` names them)."""
    teacher, probe = ctx.teacher, ctx.probe
    if teacher is not None:
        teacher = TeacherOutputs(new["teacher.logits"], {s: new[f"teacher.features.{s}"] for s in teacher.features},
                                 teacher.key)
    if probe is not None:
        probe = Probe(probe.indices, new["probe.x"], new["probe.teacher_logits"],
                      {s: new[f"probe.teacher_features.{s}"] for s in probe.teacher_features})
    return replace(ctx, **{name: new[name] for name in _SPLITS}, teacher=teacher, probe=probe)


def on_device(ctx: ProxyContext, device: str) -> ProxyContext:
    """`ctx` resident on `device` (its `device` field set to it): each tensor moved there once.
    Tensors already there are kept as they are (the CPU: the same objects, no copy)."""
    return replace(with_tensors(ctx, {k: t.to(device) for k, t in tensors(ctx).items()}), device=device)


@dataclass(frozen=True)
class PackedContext:
    """A `ProxyContext` for another process: its tensors as numpy arrays, the rest (`frame`, whose
    tensors are empty) as is, and a `token` naming this packing (what a worker caches by)."""

    frame: ProxyContext
    arrays: dict[str, np.ndarray]
    token: str


def pack(ctx: ProxyContext) -> PackedContext:
    """`ctx` with its tensors as numpy arrays sharing their memory (CPU tensors; no copy here)."""
    ts = tensors(ctx)
    frame = with_tensors(ctx, {k: torch.empty(0, dtype=t.dtype) for k, t in ts.items()})
    return PackedContext(frame, {k: t.detach().cpu().numpy() for k, t in ts.items()}, uuid.uuid4().hex)


def unpack(packed: PackedContext) -> ProxyContext:
    """The context of `packed`, its tensors sharing the arrays' memory (no copy): read-only arrays
    (Ray's object store) give tensors that must not be written, and nothing in a trial writes them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return with_tensors(packed.frame, {k: torch.from_numpy(a) for k, a in packed.arrays.items()})


_LANDED: dict[tuple[str, str], ProxyContext] = {}  # this process's resident context: one at a time


def landed(packed: PackedContext, device: str) -> ProxyContext:
    """`packed` unpacked and resident on `device`, once per process: later calls with the same
    packing and device return the context already there (a new packing replaces it)."""
    key = (packed.token, device)
    if key not in _LANDED:
        _LANDED.clear()  # a new search's context: the previous one is dropped with its device memory
        _LANDED[key] = on_device(unpack(packed), device)
    return _LANDED[key]
