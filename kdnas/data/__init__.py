"""Data sets as tensors: digits, (Fashion-)MNIST IDX files, CIFAR-10/100 pickles, image folders.

`load_data(DataSpec(...))` returns a `DataBundle` of normalised float32 train/val/test tensors with
a deterministic, stratified split and a fingerprint for caches; `random_crop_flip` augments
batches on the device.
"""

from __future__ import annotations

from kdnas.data.augment import random_crop_flip
from kdnas.data.bundle import DataBundle, Split, renormalised, with_train_from
from kdnas.data.load import load_data
from kdnas.data.spec import DataSpec

__all__ = ["DataBundle", "DataSpec", "Split", "load_data", "random_crop_flip", "renormalised", "with_train_from"]
