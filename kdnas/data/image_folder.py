"""An image-folder tree `root/{train,test}/<class>/*.jpg|*.jpeg|*.png`, decoded once and cached.

Decoding 60,000 JPEGs takes a while, so the decoded uint8 arrays are cached in
`cache_dir()/image_folder/<key>.npz`; the key covers the resolved root and every file's relative
path, size and mtime, so changing, adding or removing an image rebuilds the cache.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kdnas.atomic import atomic_write
from kdnas.data.raw import RawData
from kdnas.errors import DataError
from kdnas.paths import cache_dir

EXTENSIONS = (".jpg", ".jpeg", ".png")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


class ImageFile(NamedTuple):
    """One image of the tree: its path, path relative to the root, label, size and mtime."""

    path: str
    rel: str
    label: int
    size: int
    mtime_ns: int


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


def _images(folder: Path, rel: str, label: int) -> list[ImageFile]:
    # os.scandir and string sorting: Path objects make listing 60,000 files several times slower.
    with os.scandir(folder) as it:
        entries = sorted(
            (e for e in it if e.name.lower().endswith(EXTENSIONS) and not e.name.startswith(".")), key=lambda e: e.name
        )
    out = []
    for e in entries:
        st = e.stat()
        out.append(ImageFile(e.path, f"{rel}/{e.name}", label, st.st_size, st.st_mtime_ns))
    return out


def scan(root: Path) -> tuple[tuple[str, ...], dict[str, list[ImageFile]]]:
    """Class names (sorted train folders) and, per split present, its images in class order."""
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DataError(
            f"image folder {root} has no train/ folder: put images into {root}/train/<class>/ (and "
            f"{root}/test/<class>/)"
        )
    classes = tuple(_subdirs(train_dir))
    if not classes:
        raise DataError(f"{train_dir} has no class folders: put images into {train_dir}/<class>/")
    splits: dict[str, list[ImageFile]] = {}
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        present = _subdirs(split_dir)
        extra = [d for d in present if d not in classes]
        if extra:
            raise DataError(
                f"{split_dir / extra[0]} is a class that {train_dir} lacks; test classes must be train "
                f"classes"
            )
        per_class = [
            _images(split_dir / c, f"{split}/{c}", label) if c in present else [] for label, c in enumerate(classes)
        ]
        if split == "train" and not all(per_class):
            empty = classes[[bool(files) for files in per_class].index(False)]
            raise DataError(f"{split_dir / empty} holds no .jpg/.jpeg/.png images; every class needs training images")
        items = [f for files in per_class for f in files]
        if not items:
            raise DataError(f"{split_dir} holds no .jpg/.jpeg/.png images")
        splits[split] = items
    return classes, splits


def cache_key(root: Path, splits: dict[str, list[ImageFile]]) -> str:
    """Key of the decoded cache: resolved root + sorted relative paths with labels, sizes and mtimes."""
    h = hashlib.sha256(str(root.resolve()).encode())
    lines = sorted(f"{f.rel}\t{f.label}\t{f.size}\t{f.mtime_ns}" for items in splits.values() for f in items)
    h.update("\n".join(lines).encode())
    return h.hexdigest()[:24]


def _decode(files: list[str], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image into one preallocated uint8 (N, C, H, W) array; all must share one size."""
    from PIL import Image, UnidentifiedImageError  # only this source needs Pillow

    def header(p: str) -> tuple[tuple[int, int], str]:
        try:
            with Image.open(p) as im:  # lazy: reads size and mode without decoding the pixels
                return im.size, im.mode
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read image {p} ({exc})") from exc

    # Pillow releases the GIL while decoding, so threads use all cores without pickling arrays.
    with ThreadPoolExecutor(max_workers=min(32, os.cpu_count() or 1)) as pool:
        headers = list(pool.map(header, files))
        size0 = headers[0][0]
        for p, (size, _) in zip(files, headers):
            if size != size0:
                raise DataError(
                    f"image {p} is {size[0]}x{size[1]} but {files[0]} is {size0[0]}x{size0[1]}: "
                    "all images must share one size"
                )
        # One channel only if every image is grey; otherwise RGB (never lose colour).
        mode = "L" if all(m in GREY_MODES for _, m in headers) else "RGB"
        w, h = size0
        out = np.empty((len(files), 1 if mode == "L" else 3, h, w), dtype=np.uint8)

        def fill(i: int) -> None:
            try:
                with Image.open(files[i]) as im:
                    arr = np.asarray(im.convert(mode))
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"cannot decode image {files[i]} ({exc})") from exc
            out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)

        list(pool.map(fill, range(len(files))))
    return out, np.asarray(labels, dtype=np.int64)


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically, so a reader never sees half a cache."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)  # uncompressed: loading is then a plain read


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing or damaged cache: decode again
    return arrays if {"train_x", "train_y"} <= arrays.keys() else None


def load_image_folder_raw(root: Path) -> RawData:
    """Images under `root` as uint8 arrays, from the cache when the tree is unchanged.

    Without a `test/` folder, the test split is carved from train (spec.test_fraction).
    """
    if not root.is_dir():
        raise DataError(
            f"image folder {root} does not exist: put images into {root}/train/<class>/ and "
            f"{root}/test/<class>/"
        )
    classes, splits = scan(root)
    path = cache_dir() / "image_folder" / f"{cache_key(root, splits)}.npz"
    arrays = _load_cache(path)
    if arrays is None:
        # Decode train and test together: one size and one channel count for the whole tree.
        every = [f for items in splits.values() for f in items]
        x, y = _decode([f.path for f in every], [f.label for f in every])
        arrays, start = {}, 0
        for split, items in splits.items():
            arrays[f"{split}_x"], arrays[f"{split}_y"] = x[start : start + len(items)], y[start : start + len(items)]
            start += len(items)
        try:
            _save(path, arrays)
        except OSError:
            pass  # an unwritable cache only costs time on the next load
    return RawData(
        train_x=arrays["train_x"],
        train_y=arrays["train_y"],
        test_x=arrays.get("test_x"),
        test_y=arrays.get("test_y"),
        classes=classes,
        flip_ok=True,
    )
