"""MNIST and Fashion-MNIST from their four official gzip-compressed IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdnas.data.download import RemoteFile, ensure_files
from kdnas.data.idx import read_idx
from kdnas.data.raw import RawData
from kdnas.errors import DataError

# Order: train images, train labels, test images, test labels. raw_md5 is the md5 of the
# decompressed file, which survives recompression (the shared Fashion-MNIST copy is Debian's).
FILES: dict[str, list[RemoteFile]] = {
    "mnist": [
        RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ],
    "fashion_mnist": [
        RemoteFile(
            "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"
        ),
    ],
}

CLASSES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip


def _read_pair(root: Path, images: RemoteFile, labels: RemoteFile) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(root / images.name, ndim=3)
    y = read_idx(root / labels.name, ndim=1)
    if x.shape[0] != y.shape[0]:
        raise DataError(
            f"{root / images.name} has {x.shape[0]} images but {root / labels.name} has {y.shape[0]} "
            f"labels"
        )
    return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2]), y.astype(np.int64)


def load_mnist_raw(name: str, root: Path, download: bool) -> RawData:
    """MNIST-style data set `name` ("mnist" or "fashion_mnist") from `root`, fetching missing files."""
    files = FILES[name]
    ensure_files(name, root, files, download)
    train_x, train_y = _read_pair(root, files[0], files[1])
    test_x, test_y = _read_pair(root, files[2], files[3])
    return RawData(train_x, train_y, test_x, test_y, classes=CLASSES[name], flip_ok=False)
