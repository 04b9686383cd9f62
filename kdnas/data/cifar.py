"""CIFAR-10 and CIFAR-100 from the official "python version" pickle batches (folder or tarball)."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kdnas.data.download import RemoteFile, ensure_files
from kdnas.data.raw import RawData
from kdnas.errors import DataError


@dataclass(frozen=True)
class CifarLayout:
    """Where the official archive keeps one CIFAR variant's batches and which keys they use."""

    folder: str
    tarball: RemoteFile
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: bytes
    names_key: bytes

    @property
    def all_files(self) -> tuple[str, ...]:
        """Every file the loader reads from the folder."""
        return (*self.train_files, self.test_file, self.meta_file)


LAYOUTS = {
    "cifar10": CifarLayout(
        folder="cifar-10-batches-py",
        tarball=RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_file="test_batch",
        meta_file="batches.meta",
        label_key=b"labels",
        names_key=b"label_names",
    ),
    "cifar100": CifarLayout(
        folder="cifar-100-python",
        tarball=RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
        train_files=("train",),
        test_file="test",
        meta_file="meta",
        label_key=b"fine_labels",  # the 100 fine classes; the 20 coarse superclasses are ignored
        names_key=b"fine_label_names",
    ),
}

# What a CIFAR batch legitimately references: numpy arrays (pickled by Python 2's numpy, or by
# numpy 2 under its new module names) and `_codecs.encode`, which Python 3 uses for bytes in
# protocol 2. Anything else means the file is not a CIFAR batch.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that only builds numpy arrays, so a doctored file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")
        return super().find_class(*target)


def unpickle(data: bytes, where: str) -> dict[bytes, Any]:
    """The dict stored in one CIFAR batch file (`where` names it in errors)."""
    try:
        # The official CIFAR "python version" files are Python 2 pickles; encoding="bytes" is how
        # their authors say to read them (keys come back as bytes, e.g. b"data"). Pickle is the
        # official format here, and the restricted unpickler above refuses anything but arrays.
        obj = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # pickle raises many types for a corrupt file; all mean "not a batch"
        raise DataError(f"{where} is not a CIFAR python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{where} is not a CIFAR python batch (holds a {type(obj).__name__}, not a dict)")
    return obj


def _batch(data: bytes, where: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    d = unpickle(data, where)
    if b"data" not in d or label_key not in d:
        raise DataError(f"{where} lacks the keys b'data' and {label_key!r} of a CIFAR batch")
    x = np.asarray(d[b"data"], dtype=np.uint8)
    y = np.asarray(d[label_key], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or x.shape[0] != y.shape[0]:
        raise DataError(f"{where} holds data {x.shape} and {y.shape[0]} labels, expected (N, 3072) and N")
    return x.reshape(-1, 3, 32, 32), y  # rows are the R, G and B planes of a 32x32 image, in order


def _read_all(layout: CifarLayout, read: Callable[[str], bytes], where: Callable[[str], str]) -> RawData:
    parts = [_batch(read(f), where(f), layout.label_key) for f in layout.train_files]
    train_x = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    train_y = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    test_x, test_y = _batch(read(layout.test_file), where(layout.test_file), layout.label_key)
    meta = unpickle(read(layout.meta_file), where(layout.meta_file))
    if layout.names_key not in meta:
        raise DataError(f"{where(layout.meta_file)} lacks {layout.names_key!r}")
    classes = tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in meta[layout.names_key])
    return RawData(train_x, train_y, test_x, test_y, classes=classes, flip_ok=True)


def _from_folder(layout: CifarLayout, folder: Path) -> RawData:
    return _read_all(layout, lambda f: (folder / f).read_bytes(), lambda f: str(folder / f))


def _from_tarball(layout: CifarLayout, tarball: Path) -> RawData:
    """Read the batches straight out of the tarball (used when its folder is not writable)."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:

            def read(f: str) -> bytes:
                member = tar.extractfile(f"{layout.folder}/{f}")
                if member is None:
                    raise KeyError(f)
                return member.read()

            return _read_all(layout, read, lambda f: f"{tarball}:{layout.folder}/{f}")
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise DataError(
            f"{tarball} is not a complete {layout.tarball.name} ({exc}); delete it and fetch it "
            f"again"
        ) from exc


def _extract(layout: CifarLayout, tarball: Path, root: Path) -> None:
    """Extract the batch folder into a temp folder in `root`, then rename it into place (atomic)."""
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(layout.folder + "/")]
            tar.extractall(tmp, members=members, filter="data")  # "data": no absolute paths, links out, devices
        (tmp / layout.folder).replace(root / layout.folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_cifar_raw(name: str, root: Path, download: bool) -> RawData:
    """CIFAR-10/100 (`name`) from `root`: the extracted batch folder, else the official tarball
    (extracted once, or read in place when `root` is read-only), else downloaded."""
    layout = LAYOUTS[name]
    folder = root / layout.folder
    tarball = root / layout.tarball.name
    if all((folder / f).is_file() for f in layout.all_files):
        return _from_folder(layout, folder)
    if folder.exists() and not tarball.is_file():
        missing = ", ".join(f for f in layout.all_files if not (folder / f).is_file())
        raise DataError(
            f"{folder} is incomplete (missing {missing}): complete it, or delete it and put "
            f"{layout.tarball.name} into {root}"
        )
    ensure_files(name, root, [layout.tarball], download)
    if not folder.exists():
        try:
            _extract(layout, tarball, root)
        except (tarfile.TarError, EOFError) as exc:
            raise DataError(f"{tarball} is not a valid tarball ({exc}); delete it and fetch it again") from exc
        except OSError:
            pass  # root is read-only (or full): fall through to reading the tarball in place
    if all((folder / f).is_file() for f in layout.all_files):
        return _from_folder(layout, folder)
    return _from_tarball(layout, tarball)
