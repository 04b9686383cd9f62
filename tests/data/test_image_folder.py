"""Image folders: a subset of the shared CIFAR-10 JPEG tree, the decode cache, and bad trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kdnas.data import DataSpec, load_data
from kdnas.errors import DataError

CLASSES = ("airplane", "cat", "ship")


@pytest.fixture
def small_tree(tmp_path: Path, shared_datasets: Path) -> Path:
    """10 train and 4 test images per class of three CIFAR-10 classes, copied into tmp."""
    src = shared_datasets / "cifar10-jpeg"
    if not src.is_dir():
        pytest.skip(f"{src} is absent")
    root = tmp_path / "tree"
    for split, n in (("train", 10), ("test", 4)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                shutil.copy(src / split / c / f"{i:04d}.jpg", root / split / c / f"{i:04d}.jpg")
    return root


def _cache_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "runs" / "cache" / "image_folder"  # KDNAS_RUNS is tmp_path/runs (conftest)
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def test_loads_and_caches(small_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DataSpec(name="image_folder", root=small_tree, download=False)
    b = load_data(spec)
    assert b.input_shape == (3, 32, 32) and b.classes == CLASSES and b.flip_ok
    assert (len(b.train), len(b.val), len(b.test)) == (27, 3, 12)
    assert torch.equal(torch.bincount(b.test.y), torch.full((3,), 4))
    assert len(_cache_files(tmp_path)) == 1

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second load must come from the cache")

    monkeypatch.setattr(Image, "open", no_decoding)
    again = load_data(spec)
    assert torch.equal(again.train.x, b.train.x) and again.fingerprint == b.fingerprint


def test_pixels_match_pillow(small_tree: Path) -> None:
    b = load_data(DataSpec(name="image_folder", root=small_tree, max_test=12, download=False))
    expected = np.asarray(Image.open(small_tree / "test" / "cat" / "0002.jpg").convert("RGB")).transpose(2, 0, 1)
    mean = torch.tensor(b.mean).view(1, 3, 1, 1)
    std = torch.tensor(b.std).view(1, 3, 1, 1)
    pixels = torch.round((b.test.x * std + mean) * 255).to(torch.uint8)
    assert any(torch.equal(p, torch.from_numpy(expected.copy())) for p in pixels)


def test_changed_tree_rebuilds_cache(small_tree: Path, tmp_path: Path) -> None:
    spec = DataSpec(name="image_folder", root=small_tree, download=False)
    load_data(spec)
    (small_tree / "train" / "cat" / "0009.jpg").unlink()
    smaller = load_data(spec)
    assert len(smaller.train) + len(smaller.val) == 29
    assert len(_cache_files(tmp_path)) == 2


def test_mixed_sizes_name_a_file(small_tree: Path) -> None:
    odd = small_tree / "train" / "ship" / "odd.png"
    Image.new("RGB", (40, 30)).save(odd)
    with pytest.raises(DataError, match="odd.png") as info:
        load_data(DataSpec(name="image_folder", root=small_tree, download=False))
    assert "\n" not in str(info.value)


def test_grey_tree_without_test_folder(tmp_path: Path) -> None:
    root = tmp_path / "grey"
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (5, 7), color=i * 20 + (100 if c == "b" else 0)).save(root / "train" / c / f"{i}.png")
    b = load_data(DataSpec(name="image_folder", root=root, test_fraction=0.2, download=False))
    assert b.input_shape == (1, 7, 5) and b.classes == ("a", "b")
    assert (len(b.train), len(b.val), len(b.test)) == (14, 2, 4)


def test_missing_or_empty_tree(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train"):
        load_data(DataSpec(name="image_folder", root=tmp_path / "nothing", download=False))
    (tmp_path / "t" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no .jpg"):
        load_data(DataSpec(name="image_folder", root=tmp_path / "t", download=False))
