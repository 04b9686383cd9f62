"""`RawData`: what every source returns before splitting and normalisation (uint8, untouched)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RawData:
    """Pixels as uint8 (N, C, H, W) and labels as int64 (N,), exactly as the source stores them.

    Keeping uint8 until the split is known lets us convert each split to float32 once (CIFAR-10
    as float32 is ~600 MB) and compute exact normalisation statistics from histograms.
    `test_x`/`test_y` are None when the source has no official test split; `scale` maps raw
    values to [0, 1] (255 for images, 16 for scikit-learn's digits).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    classes: tuple[str, ...]
    flip_ok: bool
    scale: float = 255.0
