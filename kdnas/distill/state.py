"""The training state of an epoch boundary, written atomically and read with ``weights_only=True``.

Everything a run needs to continue exactly: model (and adapter) weights, optimizer and scheduler
state, the RNG states (torch CPU, every CUDA device, the batch generator) as tensors, the epoch,
the step and the history as plain lists/dicts. ``meta`` says what was trained (architecture,
recipe, seed); a state of another run is refused with one `CheckpointError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from kdnas.atomic import save_torch
from kdnas.errors import CheckpointError
from kdnas.teachers.checkpoint import read_torch

FORMAT = "kdnas-train-state/1"


def rng_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The RNG states a run draws from: torch's CPU RNG, each CUDA device's, the batch generator."""
    cuda = torch.stack(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else torch.empty(0, dtype=torch.uint8)
    return {"torch": torch.get_rng_state(), "cuda": cuda, "gen": gen.get_state()}


def set_rng_state(state: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
    cuda = state.get("cuda")
    if cuda is not None and cuda.numel() and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(cuda)[: torch.cuda.device_count()])


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (temporary file in the same folder, fsync, rename)."""
    save_torch(path, {"format": FORMAT, **state})


def load_state(path: Path) -> dict[str, Any]:
    """Read a training state on the CPU with ``weights_only=True``; `CheckpointError` (one line) if
    the file is unreadable, holds pickled objects, or is not a kdnas training state."""
    obj = read_torch(path, "training state")
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"training state {path} is not a kdnas training state (no '{FORMAT}' format tag)")
    return obj


def check_meta(path: Path, saved: dict, current: dict) -> None:
    """Refuse a state whose architecture, recipe or seed differ from this run's (one line)."""
    for key in ("arch", "seed", "recipe", "distill"):
        if saved.get(key) != current.get(key):
            if key == "arch":
                raise CheckpointError(
                    f"checkpoint {path} is of architecture {saved.get('arch')!r}, this run trains {current.get('arch')!r}"
                )
            raise CheckpointError(
                f"checkpoint {path} was written with another {key} ({saved.get(key)!r} != {current.get(key)!r}); "
                "delete its folder to start over"
            )


def fit_problem(model_state: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> str | None:
    """How `saved` weights fail to fit a model with `model_state`, or None."""
    missing = [k for k in model_state if k not in saved]
    extra = [k for k in saved if k not in model_state]
    shapes = [k for k in model_state if k in saved and tuple(model_state[k].shape) != tuple(saved[k].shape)]
    if missing:
        return f"missing key {missing[0]!r}"
    if extra:
        return f"unexpected key {extra[0]!r}"
    if shapes:
        k = shapes[0]
        return f"shape of {k!r} {tuple(saved[k].shape)} != {tuple(model_state[k].shape)}"
    return None
