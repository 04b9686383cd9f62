"""MNIST-style IDX files: tiny synthetic ones, corrupt ones, and the real Fashion-MNIST copy."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from kdnas.data import DataSpec, load_data
from kdnas.errors import DataError

NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def write_idx(path: Path, arr: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (magic 0x0000 08 ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def make_mnist(root: Path, n_train: int = 100, n_test: int = 40, side: int = 6) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = NAMES[split]
        write_idx(root / images, rng.integers(0, 256, (n, side, side), dtype=np.uint8))
        write_idx(root / labels, (np.arange(n) % 10).astype(np.uint8))


def test_tiny_idx_loads_as_mnist(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    b = load_data(DataSpec(name="mnist", root=tmp_path, download=False))
    assert b.input_shape == (1, 6, 6) and b.num_classes == 10 and not b.flip_ok
    assert (len(b.train), len(b.val), len(b.test)) == (90, 10, 40)
    assert torch.equal(torch.bincount(b.val.y), torch.ones(10, dtype=torch.int64))
    assert abs(b.train.x.mean().item()) < 1e-4


def test_corrupt_magic_names_the_file(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    bad = tmp_path / NAMES["train"][0]
    with gzip.open(bad, "wb") as f:
        f.write(bytes([0, 0, 0x0D, 3]) + b"\0" * 100)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz") as info:
        load_data(DataSpec(name="mnist", root=tmp_path, download=False))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"not gzip at all", None])
def test_broken_gzip_or_truncated_data(tmp_path: Path, content: bytes | None) -> None:
    make_mnist(tmp_path)
    bad = tmp_path / NAMES["test"][1]
    if content is not None:
        bad.write_bytes(content)
    else:
        with gzip.open(bad, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">i", 40) + b"\1" * 39)  # one label short
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_data(DataSpec(name="mnist", root=tmp_path, download=False))


def test_missing_files_without_download_say_what_to_put_where(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_data(DataSpec(name="mnist", root=tmp_path / "none", download=False))
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "none") in msg
    assert all(n in msg for pair in NAMES.values() for n in pair)


def test_real_fashion_mnist(shared_datasets: Path) -> None:
    root = shared_datasets / "fashion-mnist"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    b = load_data(DataSpec(name="fashion_mnist", root=root, max_train=200, max_val=50, max_test=100, download=False))
    assert b.input_shape == (1, 28, 28) and b.num_classes == 10
    assert b.classes[0] == "T-shirt/top" and b.classes[-1] == "Ankle boot"
    assert (len(b.train), len(b.val), len(b.test)) == (200, 50, 100)
    assert torch.equal(torch.bincount(b.test.y), torch.full((10,), 10))
    # Source sizes: the raw reader sees the official 60,000 / 10,000 images.
    from kdnas.data.load import load_raw

    raw = load_raw(DataSpec(name="fashion_mnist", root=root, download=False))
    assert raw.train_x.shape == (60000, 1, 28, 28) and raw.test_x is not None and raw.test_x.shape[0] == 10000
