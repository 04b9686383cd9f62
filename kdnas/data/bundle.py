"""`Split` and `DataBundle`: a loaded data set as normalised tensors, ready for on-device training."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class Split:
    """One split: `x` float32 (N, C, H, W) normalised with the train split's statistics, `y` int64 (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        # A mismatch here is a bug in a loader, not a user error, so it is a plain ValueError.
        if self.x.dim() != 4 or self.y.dim() != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"Split needs x (N,C,H,W) and y (N,), got {tuple(self.x.shape)} and {tuple(self.y.shape)}")
        if self.x.dtype != torch.float32 or self.y.dtype != torch.int64:
            raise ValueError(f"Split needs float32 x and int64 y, got {self.x.dtype} and {self.y.dtype}")

    def __len__(self) -> int:
        """Number of samples."""
        return int(self.y.shape[0])


@dataclass(frozen=True)
class DataBundle:
    """A data set split into train/val/test tensors, with what a trainer needs to know about it.

    `mean`/`std` are the per-channel statistics of the train split's pixels scaled to [0, 1]
    (so `x * std + mean` recovers [0, 1] images). `flip_ok` says whether a horizontal flip keeps the
    label (true for natural images, false for digits and clothes). `fingerprint` is a short hex
    sha256 over the split-relevant spec fields and the raw content: a stable cache key.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_ok: bool
    fingerprint: str

    def describe(self) -> str:
        """One line: name, input shape, number of classes and split sizes."""
        c, h, w = self.input_shape
        return (
            f"{self.name}: {c}x{h}x{w}, {self.num_classes} classes, "
            f"train {len(self.train)} / val {len(self.val)} / test {len(self.test)}"
        )


def with_train_from(data: DataBundle, more: DataBundle) -> DataBundle:
    """`data` with `more`'s training split (a larger draw from the same pool) in its place, normalised
    as `data` normalises: a teacher trained on it sees pixels as it will when it teaches `data`'s
    students. Validation and test stay `data`'s own."""
    return replace(data, train=renormalised(more.train, more, data))


def renormalised(split: Split, source: DataBundle, target: DataBundle) -> Split:
    """`split`, normalised with `source`'s channel statistics, re-expressed in `target`'s (an affine
    map per channel: the same pixels as `target`'s own normalisation would give)."""
    shape = (1, -1, 1, 1)
    s_mean, s_std, t_mean, t_std = (torch.tensor(v, dtype=torch.float32).view(shape)
                                    for v in (source.mean, source.std, target.mean, target.std))
    return Split((split.x * s_std + s_mean - t_mean) / t_std, split.y)
