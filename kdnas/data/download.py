"""Fetch missing data files from their official address (or a mirror), verified by md5.

Each data set has a base URL that an environment variable overrides, so that a site mirror, or a
test's local `http.server`, can serve the files:

- `KDNAS_MIRROR_MNIST`          (default https://ossci-datasets.s3.amazonaws.com/mnist/)
- `KDNAS_MIRROR_FASHION_MNIST`  (default http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)
- `KDNAS_MIRROR_CIFAR10`        (default https://www.cs.toronto.edu/~kriz/)
- `KDNAS_MIRROR_CIFAR100`       (default https://www.cs.toronto.edu/~kriz/)

A file is fetched into a temporary file next to its destination and renamed into place only
after its checksum matched, so an interrupted or wrong download never leaves a file that a later
run would trust. Files already present are NOT checked here (hashing on every load would cost
seconds); the format readers catch corrupt files instead.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from kdnas.atomic import atomic_write
from kdnas.errors import DataError

TIMEOUT_S = 15.0  # per socket operation: enough for a slow mirror, short enough to fail fast offline
CHUNK = 1 << 20

OFFICIAL_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
    "cifar100": "https://www.cs.toronto.edu/~kriz/",
}


@dataclass(frozen=True)
class RemoteFile:
    """A file of a data set: its name, the md5 of the official file and, for .gz files that may have
    been recompressed by a redistributor (Debian), the md5 of the decompressed content."""

    name: str
    md5: str
    raw_md5: str | None = None


def base_url(dataset: str) -> str:
    """Base URL of `dataset`: $KDNAS_MIRROR_<NAME> if set, else the official address; ends with '/'."""
    url = os.environ.get(f"KDNAS_MIRROR_{dataset.upper()}") or OFFICIAL_URLS[dataset]
    return url if url.endswith("/") else url + "/"


def _md5_file(path: Path, gunzip: bool = False) -> str:
    h = hashlib.md5(usedforsecurity=False)
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile) -> bool:
    """Whether `path` is the official file: same md5, or (for .gz) same decompressed md5."""
    if _md5_file(path) == remote.md5:
        return True
    if remote.raw_md5 is None:
        return False
    try:
        return _md5_file(path, gunzip=True) == remote.raw_md5
    except (OSError, EOFError, zlib.error):
        return False


def _put_hint(dataset: str, root: Path, files: list[RemoteFile]) -> str:
    names = ", ".join(f.name for f in files)
    return f"put {names} into {root} (from {base_url(dataset)})"


def _fetch(url: str, dest: Path, remote: RemoteFile) -> None:
    """Download `url` to `dest` atomically: only a file whose checksum matches replaces `dest`."""
    with atomic_write(dest) as out:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
        out.flush()
        if not verify(Path(out.name), remote):
            raise DataError(
                f"checksum mismatch for {url} (expected md5 {remote.md5}); "
                f"the file was removed, check the mirror or put the official {remote.name} into {dest.parent}"
            )


def ensure_files(dataset: str, root: Path, files: list[RemoteFile], download: bool) -> None:
    """Make sure every file of `files` exists in `root`, downloading the missing ones if allowed.

    Raises DataError with one line saying which files to put into which folder (and where they
    come from) when they are missing and cannot be fetched.
    """
    missing = [f for f in files if not (root / f.name).is_file()]
    if not missing:
        return
    if not download:
        raise DataError(f"{dataset} files missing and download is off: {_put_hint(dataset, root, missing)}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {root} for {dataset} ({exc.strerror}): "
            f"{_put_hint(dataset, root, missing)}"
        ) from exc
    for i, remote in enumerate(missing):
        url = base_url(dataset) + remote.name
        try:
            _fetch(url, root / remote.name, remote)
        except DataError:
            raise
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a cut-off transfer
        # raises http.client.IncompleteRead, an HTTPException.
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            else:
                reason = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            reason = " ".join(reason.split())  # keep the message on one line
            raise DataError(f"cannot download {url} ({reason}): {_put_hint(dataset, root, missing[i:])}") from exc
