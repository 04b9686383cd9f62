"""Downloading from a mirror (a local http.server), checksum failures, and an unreachable mirror."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from kdnas.data import DataSpec, cifar, load_data
from kdnas.data.mnist import FILES
from kdnas.errors import DataError

NAMES = [f.name for f in FILES["fashion_mnist"]]


@pytest.fixture
def fashion_src(shared_datasets: Path) -> Path:
    src = shared_datasets / "fashion-mnist"
    if not src.is_dir():
        pytest.skip(f"{src} is absent")
    return src


def test_download_from_mirror(
    fashion_src: Path, http_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = http_dir
    for name in NAMES:
        shutil.copy(fashion_src / name, served / name)  # Debian's recompressed copies: pass by raw md5
    monkeypatch.setenv("KDNAS_MIRROR_FASHION_MNIST", url)
    root = tmp_path / "empty" / "fashion"
    b = load_data(DataSpec(name="fashion_mnist", root=root, max_train=100, max_val=20, max_test=50))
    assert sorted(p.name for p in root.iterdir()) == sorted(NAMES)  # no temp files left
    assert b.input_shape == (1, 28, 28) and len(b.test) == 50


def test_wrong_content_is_refused_and_removed(
    http_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, url = http_dir
    for name in NAMES:
        with gzip.open(served / name, "wb") as f:
            f.write(b"\0\0\x08\x01\0\0\0\0")  # a valid, empty IDX file: right format, wrong data
    monkeypatch.setenv("KDNAS_MIRROR_FASHION_MNIST", url)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="checksum") as info:
        load_data(DataSpec(name="fashion_mnist", root=root))
    assert "\n" not in str(info.value) and NAMES[0] in str(info.value)
    assert list(root.iterdir()) == []


def test_unreachable_mirror_names_files_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNAS_MIRROR_FASHION_MNIST", "http://127.0.0.1:9/")
    root = tmp_path / "fm"
    with pytest.raises(DataError) as info:
        load_data(DataSpec(name="fashion_mnist", root=root))
    msg = str(info.value)
    assert "\n" not in msg and str(root) in msg and all(n in msg for n in NAMES)
    assert "http://127.0.0.1:9/" in msg
    assert list(root.iterdir()) == []


def test_missing_file_on_mirror(http_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = http_dir  # serves an empty folder: every request is a 404
    monkeypatch.setenv("KDNAS_MIRROR_MNIST", url.rstrip("/"))  # a base without the slash works too
    with pytest.raises(DataError, match="404"):
        load_data(DataSpec(name="mnist", root=tmp_path / "m"))


def test_default_root_comes_from_kdnas_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNAS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError) as info:
        load_data(DataSpec(name="mnist", download=False))
    assert str(tmp_path / "data" / "mnist") in str(info.value)


def test_cifar_tarball_from_mirror(http_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served, url = http_dir
    folder = tmp_path / "src" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.full((10, 3072), 7, dtype=np.uint8), b"labels": list(range(10))}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"c%d" % i for i in range(10)]}, protocol=2))
    with tarfile.open(served / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    monkeypatch.setenv("KDNAS_MIRROR_CIFAR10", url)

    # Our tiny tarball is not the official one: refused, and nothing is left in the root.
    root = tmp_path / "root"
    with pytest.raises(DataError, match="checksum"):
        load_data(DataSpec(name="cifar10", root=root))
    assert list(root.iterdir()) == []

    # With its own md5 registered it is fetched, extracted and loaded.
    md5 = hashlib.md5((served / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    layout = cifar.LAYOUTS["cifar10"]
    patched = dataclasses.replace(layout, tarball=dataclasses.replace(layout.tarball, md5=md5))
    monkeypatch.setitem(cifar.LAYOUTS, "cifar10", patched)
    b = load_data(DataSpec(name="cifar10", root=root))
    assert (len(b.train), len(b.val), len(b.test)) == (45, 5, 10)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
