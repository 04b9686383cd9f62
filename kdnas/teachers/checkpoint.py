"""Teacher checkpoints: written atomically, read with ``weights_only=True``.

A kdnas checkpoint is ``{"state_dict": {name: tensor}, "meta": {...}, "state_sha256": hex}``.
``meta`` holds plain values only (str/int/float/bool/None, lists and str-keyed dicts of them) so
the file loads under ``weights_only`` — the unpickler that refuses arbitrary Python objects, which
is what makes loading a checkpoint from elsewhere safe. ``meta["arch"]`` names the architecture
(a zoo name or factory target); `load_teacher` checks it against the study's teacher.

For bring-your-own weights, `load_checkpoint` also reads a bare ``torch.save(model.state_dict())``
file and RepDistiller-style ``{"model": state_dict, ...}`` files (their meta is then ``{}``).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdnas.atomic import save_torch
from kdnas.errors import CheckpointError

_PLAIN = (str, int, float, bool, type(None))
# phrases of torch's weights_only errors (torch/_weights_only_unpickler.py), used to tell apart
# "pickled objects refused" from "not a pickle at all" in a one-line message
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_WEIGHTS_ERROR = "WeightsUnpickler error:"


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint meta key {where}[{key!r}] is not a string")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"checkpoint meta {where} is a {type(value).__name__}; only plain values load safely")


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the tensors, in name order.

    A hash of the weights, not of the file, so it identifies a teacher however it was saved
    (usable as a cache key for the teacher's outputs).
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # bytes through a uint8 view: .numpy() refuses bfloat16
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path, model: nn.Module, meta: dict) -> str:
    """Write `model`'s weights and `meta` to `path` atomically; return the weights' SHA-256.

    Written to a temporary file in the same folder and renamed over `path`, so a crash never
    leaves a half-written checkpoint where a later run would read it. Raises TypeError if `meta`
    holds anything but plain values.
    """
    _check_plain(meta, "meta")
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    digest = state_dict_sha256(state)
    save_torch(path, {"state_dict": state, "meta": meta, "state_sha256": digest})
    return digest


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def read_torch(path: Path, what: str = "checkpoint") -> Any:
    """`torch.load` of `path` on the CPU with ``weights_only=True``: the one safe read of a torch
    file. `CheckpointError` (one line naming `what` and the file) when the pickle holds objects
    ``weights_only`` refuses or the bytes are not a torch file it can read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's weights_only unpickler: an unknown global means pickled Python objects (unsafe to
        # load); anything else it refuses means the bytes are not a pickle it can read
        found = _UNSUPPORTED_GLOBAL.search(str(exc))
        if found:
            raise CheckpointError(
                f"{what} {path} holds a pickled Python object ({found.group(1)}) that weights_only "
                "loading refuses; save plain tensors and values (kdnas, or torch.save(model.state_dict()))"
            ) from exc
        _, _, detail = str(exc).partition(_WEIGHTS_ERROR)
        reason = next((line.strip() for line in detail.splitlines() if line.strip()), _first_line(exc))
        raise CheckpointError(f"{what} {path} is not a readable torch file ({reason})") from exc
    except Exception as exc:  # noqa: BLE001 - a foreign file can fail torch.load in many ways (struct, zip, EOF ...)
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0].strip()}" if text else type(exc).__name__
        raise CheckpointError(f"{what} {path} is not a readable torch file ({reason})") from exc


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read `path` on the CPU with ``weights_only=True``; return (state_dict, meta).

    Raises CheckpointError (one line naming the file) for a missing or unreadable file, a file
    whose pickle holds objects ``weights_only`` refuses, a file without a state_dict, and a kdnas
    checkpoint whose weights no longer match their recorded hash.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    obj = read_torch(path)
    if isinstance(obj, dict) and "state_dict" in obj:
        state, meta = obj["state_dict"], obj.get("meta", {})
    elif isinstance(obj, dict) and "model" in obj:  # RepDistiller / mdistiller training checkpoints
        state, meta = obj["model"], {}
    elif _is_state_dict(obj):
        state, meta = obj, {}
    else:
        raise CheckpointError(f"checkpoint {path} holds no state_dict (found {type(obj).__name__})")
    if not _is_state_dict(state):
        raise CheckpointError(f"checkpoint {path}: its state_dict is not a mapping of names to tensors")
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: its meta is a {type(meta).__name__}, not a dict")
    recorded = obj.get("state_sha256") if isinstance(obj, dict) else None
    if recorded is not None and recorded != state_dict_sha256(state):
        raise CheckpointError(f"checkpoint {path} is corrupt: its weights do not match their recorded hash")
    return state, meta
