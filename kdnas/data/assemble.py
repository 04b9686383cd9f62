"""Turn a source's `RawData` into a `DataBundle`: split, subsample, normalise, fingerprint."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import torch

from kdnas.data.bundle import DataBundle, Split
from kdnas.data.raw import RawData
from kdnas.data.spec import DataSpec
from kdnas.data.split import (
    STAGE_SUB_TEST,
    STAGE_SUB_TRAIN,
    STAGE_SUB_VAL,
    STAGE_TEST,
    STAGE_VAL,
    split_fraction,
    stage_rng,
    subsample,
)
from kdnas.errors import DataError

FINGERPRINT_CHARS = 16


def content_hash(raw: RawData) -> str:
    """sha256 over the raw arrays (shapes, dtypes, bytes) and the class names."""
    h = hashlib.sha256()
    for arr in (raw.train_x, raw.train_y, raw.test_x, raw.test_y):
        if arr is None:
            h.update(b"none")
            continue
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    h.update(json.dumps([list(raw.classes), raw.scale]).encode())
    return h.hexdigest()


def fingerprint(spec: DataSpec, raw: RawData) -> str:
    """Short hex sha256 over the spec fields that change the splits and over the raw content.

    `root` and `download` are left out (the same bytes from another folder are the same data);
    `test_fraction` only counts when a test split is carved.
    """
    fields = {
        "name": spec.name,
        "val_fraction": spec.val_fraction,
        "test_fraction": spec.test_fraction if raw.test_x is None else None,
        "seed": spec.seed,
        "max_train": spec.max_train,
        "max_val": spec.max_val,
        "max_test": spec.max_test,
    }
    h = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    h.update(content_hash(raw).encode())
    return h.hexdigest()[:FINGERPRINT_CHARS]


def channel_stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and std (population) of uint8 pixels `x`, from 256-bin histograms.

    Histograms avoid a float64 copy of the train split and float32 summation error.
    """
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for c in range(x.shape[1]):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).numpy().astype(np.float64)
        n = hist.sum()
        mean = float((hist * values).sum() / n)
        means.append(mean)
        stds.append(float((hist * (values - mean) ** 2).sum() / n) ** 0.5)
    return np.array(means), np.array(stds)


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    """A tensor sharing `arr`'s memory, also for read-only arrays (we only ever read from it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def normalised(x_u8: torch.Tensor, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """float32 (x - mean) / std in raw units: one conversion, then in place (no further copies)."""
    shape = (1, -1, 1, 1)
    xs = x_u8.to(torch.float32)
    xs.sub_(torch.from_numpy(mean).to(torch.float32).view(shape))
    return xs.div_(torch.from_numpy(std).to(torch.float32).view(shape))


def select(x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Split:
    """The normalised split of samples `idx` of uint8 `x` and labels `y`."""
    t = torch.from_numpy(idx)
    return Split(normalised(x.index_select(0, t), mean, std), y.index_select(0, t))


def assemble(spec: DataSpec, raw: RawData) -> DataBundle:
    """Split `raw` as `spec` says (test carved only when there is no official one), then normalise."""
    n_classes = len(raw.classes)
    for part, y in (("train", raw.train_y), ("test", raw.test_y)):
        if y is not None and len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"{spec.name}: {part} labels outside 0..{n_classes - 1}")

    if raw.test_x is None or raw.test_y is None:
        # No official test split: carve it first so it does not depend on val_fraction.
        pool, test_idx = split_fraction(raw.train_y, spec.test_fraction, stage_rng(spec.seed, STAGE_TEST))
        test_x, test_y = raw.train_x, raw.train_y
    else:
        pool = np.arange(len(raw.train_y), dtype=np.int64)
        test_idx = np.arange(len(raw.test_y), dtype=np.int64)
        test_x, test_y = raw.test_x, raw.test_y

    train_pos, val_pos = split_fraction(raw.train_y[pool], spec.val_fraction, stage_rng(spec.seed, STAGE_VAL))
    train_idx, val_idx = pool[train_pos], pool[val_pos]
    train_idx = subsample(train_idx, raw.train_y, spec.max_train, stage_rng(spec.seed, STAGE_SUB_TRAIN))
    val_idx = subsample(val_idx, raw.train_y, spec.max_val, stage_rng(spec.seed, STAGE_SUB_VAL))
    test_idx = subsample(test_idx, test_y, spec.max_test, stage_rng(spec.seed, STAGE_SUB_TEST))
    if len(train_idx) == 0 or len(val_idx) == 0 or len(test_idx) == 0:
        raise DataError(
            f"{spec.name}: too few samples to split (train {len(train_idx)}, val {len(val_idx)}, test "
            f"{len(test_idx)})"
        )

    # torch's index_select and bincount are multi-threaded and several times faster than numpy's
    # fancy indexing and bincount on CIFAR-sized arrays.
    x_all, y_all = as_tensor(raw.train_x), as_tensor(raw.train_y).to(torch.int64)
    train_t = torch.from_numpy(train_idx)
    train_u8 = x_all.index_select(0, train_t)
    mean, std = channel_stats(train_u8)
    std = np.where(std > 0, std, 1.0)  # a constant channel carries no signal; avoid dividing by 0
    train = Split(normalised(train_u8, mean, std), y_all.index_select(0, train_t))
    del train_u8  # free the uint8 copy before the next split is converted
    val = select(x_all, y_all, val_idx, mean, std)
    test = select(as_tensor(test_x), as_tensor(test_y).to(torch.int64), test_idx, mean, std)
    _, c, h, w = raw.train_x.shape
    return DataBundle(
        name=spec.name,
        train=train,
        val=val,
        test=test,
        num_classes=n_classes,
        classes=tuple(raw.classes),
        input_shape=(int(c), int(h), int(w)),
        mean=tuple(float(m / raw.scale) for m in mean),
        std=tuple(float(s / raw.scale) for s in std),
        flip_ok=raw.flip_ok,
        fingerprint=fingerprint(spec, raw),
    )
