"""CIFAR-10/100 from real-format pickle batches, as a folder and as the official tarball."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from kdnas.data import DataSpec, load_data
from kdnas.data import cifar
from kdnas.errors import DataError

PER_BATCH = 20


def _dump(path: Path, obj: object, protocol: int) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def make_cifar10(root: Path, protocol: int = 2) -> Path:
    """The official layout cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [i % 10 for i in range(PER_BATCH)],
            b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(PER_BATCH)],
        }
        _dump(folder / name, batch, protocol)
    names = [n.encode() for n in "airplane automobile bird cat deer dog frog horse ship truck".split()]
    meta = {b"label_names": names, b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072}
    _dump(folder / "batches.meta", meta, protocol)
    return folder


def make_cifar100(root: Path) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", 400), ("test", 200)):
        batch = {
            b"fine_labels": [i % 100 for i in range(n)],
            b"coarse_labels": [i % 20 for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        _dump(folder / name, batch, 2)
    meta = {b"fine_label_names": [f"c{i:02d}".encode() for i in range(100)], b"coarse_label_names": [b"x"] * 20}
    _dump(folder / "meta", meta, 2)
    return folder


def _tar(folder: Path, tarball: Path) -> None:
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_folder(tmp_path: Path, protocol: int) -> None:
    folder = make_cifar10(tmp_path, protocol)
    b = load_data(DataSpec(name="cifar10", root=tmp_path, download=False))
    assert b.input_shape == (3, 32, 32) and b.num_classes == 10 and b.flip_ok
    assert b.classes[0] == "airplane" and b.classes[9] == "truck"
    assert (len(b.train), len(b.val), len(b.test)) == (90, 10, 20)
    assert len(b.mean) == 3 and torch.allclose(b.train.x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    # The rows are R, G, B planes: the first test image's red plane is its first 1024 bytes.
    first = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")[b"data"][0]
    red = b.test.x[:, 0] * b.std[0] + b.mean[0]
    assert any(torch.allclose(r.flatten() * 255, torch.from_numpy(first[:1024]).float(), atol=1e-2) for r in red)


def test_cifar10_tarball_is_extracted(tmp_path: Path) -> None:
    src = make_cifar10(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    _tar(src, root / "cifar-10-python.tar.gz")
    b = load_data(DataSpec(name="cifar10", root=root, download=False))
    assert (len(b.train), len(b.test)) == (90, 20)
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temp folder left
    again = load_data(DataSpec(name="cifar10", root=root, download=False))
    assert again.fingerprint == b.fingerprint


def test_cifar10_tarball_read_in_place_when_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_cifar10(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    _tar(src, root / "cifar-10-python.tar.gz")

    def read_only(*args: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(cifar, "_extract", read_only)
    b = load_data(DataSpec(name="cifar10", root=root, download=False))
    assert len(b.train) == 90 and not (root / "cifar-10-batches-py").exists()


def test_cifar100_fine_labels_folder_and_tarball(tmp_path: Path) -> None:
    src = make_cifar100(tmp_path / "src")
    b = load_data(DataSpec(name="cifar100", root=tmp_path / "src", download=False))
    assert b.num_classes == 100 and b.classes[7] == "c07" and int(b.train.y.max()) == 99
    assert (len(b.train), len(b.val), len(b.test)) == (360, 40, 200)
    root = tmp_path / "root"
    root.mkdir()
    _tar(src, root / "cifar-100-python.tar.gz")
    assert load_data(DataSpec(name="cifar100", root=root, download=False)).fingerprint == b.fingerprint


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    folder = make_cifar10(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    _dump(folder / "data_batch_3", {b"data": Evil(), b"labels": []}, 2)
    with pytest.raises(DataError, match="data_batch_3"):
        load_data(DataSpec(name="cifar10", root=tmp_path, download=False))
    assert not marker.exists()


def test_incomplete_folder_and_missing_files(tmp_path: Path) -> None:
    folder = make_cifar10(tmp_path)
    (folder / "data_batch_2").unlink()
    with pytest.raises(DataError, match="data_batch_2"):
        load_data(DataSpec(name="cifar10", root=tmp_path, download=False))
    with pytest.raises(DataError, match="cifar-100-python.tar.gz") as info:
        load_data(DataSpec(name="cifar100", root=tmp_path / "empty", download=False))
    assert str(tmp_path / "empty") in str(info.value)
