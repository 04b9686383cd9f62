"""Teacher outputs on the proxy's training data, computed once per (teacher, data, split) and kept on disk.

Every trial of a study reuses them, so a trial costs about what training the student alone costs
(measured by `python -m benchmarks.proxy`). The proxy trains without augmentation for exactly this reason:
the same sample always has the same teacher output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kdnas.atomic import save_torch
from kdnas.device import autocast
from kdnas.paths import cache_dir
from kdnas.teachers import FeatureTaps


@dataclass(frozen=True)
class TeacherOutputs:
    """Teacher logits (float32, N x K) and optional stage features (float16, by teacher stage index)."""

    logits: torch.Tensor
    features: dict[int, torch.Tensor]
    key: str


def cache_key(teacher_id: str, data_fingerprint: str, split: str, stages: tuple[int, ...]) -> str:
    """Key of the cached outputs: teacher identity (checkpoint hash), data, split, feature stages."""
    text = f"{teacher_id}|{data_fingerprint}|{split}|{','.join(map(str, stages))}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@torch.inference_mode()
def compute_outputs(
    teacher: nn.Module, x: torch.Tensor, feature_names: tuple[str, ...], stages: tuple[int, ...], batch_size: int = 512,
    device: str = "cpu",
    amp: bool = True,
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Run the frozen teacher over `x` in batches on `device` (bfloat16 autocast on CUDA when `amp`);
    the outputs come back to the CPU in one transfer at the end, not one per batch (the cache is a
    CPU file, shipped once to every worker); stage features in float16 to halve memory."""
    teacher.eval().to(device)
    logits, feats = [], {s: [] for s in stages}
    names = [feature_names[s] for s in stages]
    for i in range(0, len(x), batch_size):
        with autocast(device, amp), FeatureTaps(teacher, names) as taps:
            out = teacher(x[i : i + batch_size].to(device))
        logits.append(out.float())
        for s, f in zip(stages, taps.features):
            feats[s].append(f.half())
    return torch.cat(logits).cpu(), {s: torch.cat(v).cpu() for s, v in feats.items()}


def teacher_outputs(
    teacher: nn.Module,
    x: torch.Tensor,
    *,
    teacher_id: str,
    data_fingerprint: str,
    split: str = "train",
    feature_names: tuple[str, ...] = (),
    stages: tuple[int, ...] = (),
    cache: Path | None = None,
    device: str = "cpu",
    amp: bool = True,
) -> TeacherOutputs:
    """Load the teacher's outputs on `x` from the disk cache, computing and storing them on a miss
    (`amp`: bfloat16 autocast on CUDA; it changes rounding only, so it is not part of the key)."""
    key = cache_key(teacher_id, data_fingerprint, split, stages)
    path = (cache or cache_dir() / "teacher_outputs") / f"{key}.pt"
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob["logits"].shape[0] == len(x):
            return TeacherOutputs(blob["logits"], {int(k): v for k, v in blob["features"].items()}, key)
    logits, feats = compute_outputs(teacher, x, feature_names, stages, device=device, amp=amp)
    # atomic: a concurrent reader sees the old outputs or the whole file
    save_torch(path, {"logits": logits, "features": {str(k): v for k, v in feats.items()}})
    return TeacherOutputs(logits, feats, key)
