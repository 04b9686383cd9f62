"""The one device setting: the only place a device string is parsed, resolved and checked.

A device is written ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. ``auto`` means CUDA where
this torch sees a GPU, else the CPU; it is kept as written in a stored study (so the study resumes
on another machine) and resolved when a command runs, and the resolved device is what a trial records.
Every check raises a one-line `UserError`, before a command has run or written anything.
"""

from __future__ import annotations

import os
import platform
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kdnas.errors import UserError

if TYPE_CHECKING:  # torch is imported where it is used: `kdnas --help` must not wait a second for it
    import torch

AUTO = "auto"
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"
_SYNTAX = re.compile(r"auto|cpu|mps|cuda(?::(\d+))?")


def parse_device(text: str) -> str:
    """The canonical spelling of a device setting (``auto`` stays ``auto``); a typo is a `UserError`."""
    canonical = str(text).strip().lower()
    if not _SYNTAX.fullmatch(canonical):
        raise UserError(f"device '{text}' is not one of {DEVICE_HELP}")
    return canonical


def _no_cuda_reason() -> str:
    import torch

    if torch.version.cuda is None:
        return f"this torch has no CUDA (torch {torch.__version__})"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "no GPU is visible" + (f" (CUDA_VISIBLE_DEVICES='{visible}')" if visible is not None else "")


def resolve_device(text: str) -> torch.device:
    """The device a setting means on this machine, checked to exist: ``auto`` becomes ``cuda`` where
    CUDA is available, else ``cpu``. A CUDA device that is absent, ``cuda:N`` past the visible GPUs,
    or ``mps`` where this torch has none are `UserError`s."""
    import torch

    name = parse_device(text)
    if name == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' requested but {_no_cuda_reason()}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"device '{name}' requested but only {count} GPU(s) are visible (cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device '{name}' requested but this torch has no MPS backend available")
    return device


def check_placement(device: str, executor: str, gpus_per_trial: float) -> None:
    """Refuse a device (as written, or as `auto` resolved) that the executor's request contradicts:
    trials that reserve GPUs but train elsewhere, or Ray CUDA trials given no GPU (they see none)."""
    m = _SYNTAX.fullmatch(device)
    if m is None or device == AUTO:
        raise ValueError(f"check_placement needs a written or resolved device, not {device!r}")
    cuda = device.startswith("cuda")
    if not cuda and gpus_per_trial > 0:
        raise UserError(f"device '{device}' trains without a GPU but executor.gpus_per_trial is {gpus_per_trial:g}: "
                        "set device: cuda, or gpus_per_trial: 0")
    if executor != "ray" or not cuda:
        return
    if gpus_per_trial == 0:
        raise UserError(f"device '{device}' with the Ray executor needs executor.gpus_per_trial > 0 "
                        "(a Ray trial without GPUs sees none)")
    if m[1] is not None and int(m[1]) > 0:  # a Ray trial sees only the GPU it was given, as cuda:0
        raise UserError(f"device '{device}' names one GPU, but Ray gives each trial its own: use device 'cuda'")


def resolve_placement(text: str, executor: str, gpus_per_trial: float) -> torch.device:
    """`resolve_device` for trials run by `executor` with `gpus_per_trial`, checked by `check_placement`.

    A written device is checked against the request first, so a contradiction is named as such on
    any machine; `auto` can only be checked once resolved."""
    name = parse_device(text)
    if name != AUTO:
        check_placement(name, executor, gpus_per_trial)
    device = resolve_device(name)
    if name == AUTO:
        try:
            check_placement(str(device), executor, gpus_per_trial)
        except UserError as err:
            raise UserError(f"device 'auto' is '{device}' on this machine: {err}") from None
    return device


def describe_device(device: torch.device | str) -> str:
    """What a run records about its device: the name, with the GPU's model on CUDA."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


@dataclass(frozen=True)
class Acceleration:
    """How runs use a GPU, beside where they run: bfloat16 autocast (`amp`, on by default, as
    retraining's `RetrainRecipe.amp`), the channels-last memory layout and cuDNN's autotuner.
    Each changes rounding or speed, never the experiment, and each is ignored off CUDA, so the CPU
    path is the same float32 code whatever is set."""

    amp: bool = True
    channels_last: bool = False
    cudnn_benchmark: bool = False

    def autocast(self, device: torch.device | str) -> AbstractContextManager[object]:
        """The autocast context of a forward (and its loss) on `device`: bfloat16 on CUDA when
        `amp`, nothing otherwise."""
        return autocast(device, self.amp)

    def layout(self, device: torch.device | str) -> torch.memory_format | None:
        """The memory format a model and its batches take on `device`: channels-last on CUDA when
        set, else None (leave them as they are)."""
        import torch

        return torch.channels_last if self.channels_last and _is_cuda(device) else None

    def apply(self, device: torch.device | str) -> None:
        """Set the process-wide switches for `device` (cuDNN's autotuner on CUDA when set)."""
        import torch

        if _is_cuda(device):
            torch.backends.cudnn.benchmark = self.cudnn_benchmark


def _is_cuda(device: torch.device | str) -> bool:
    return str(device).startswith("cuda")


def autocast(device: torch.device | str, amp: bool) -> AbstractContextManager[object]:
    """bfloat16 autocast on CUDA when `amp` (no loss scaling needed), a no-op context elsewhere:
    the one mixed-precision convention of proxy runs, the teacher cache, block and full training."""
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and _is_cuda(device) else nullcontext()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('unknown' where there is none): part of what a
    latency figure belongs to, and said beside every benchmark's figures."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
