"""Atomic file writes: the one way kdnas replaces a file that another process, or a later run, reads.

A file is written to a temporary name in the same folder (so the rename never crosses file
systems), flushed and fsynced, then renamed over the target with `os.replace`. A reader sees the
old file or the whole new one, never half of it, and a crash leaves at most a hidden temporary
file (``.<name>.<pid>.<random>.tmp``), never a truncated result. The temporary file is created
with the ordinary permissions (the umask's), so caches shared by several users stay readable.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch


@contextmanager
def atomic_write(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content into; it replaces `path` when the block ends
    without an exception, and is removed when one is raised (`path` is then left as it was).
    The file's `name` is the temporary path, for a caller that checks what it wrote (a checksum)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    f = open(tmp, "xb")  # noqa: SIM115 - closed below, before the rename
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data`, atomically."""
    with atomic_write(path) as f:
        f.write(data)


def write_text(path: Path | str, text: str) -> None:
    """Replace `path` with `text` (UTF-8), atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, data: Any) -> None:
    """Replace `path` with `data` as JSON, atomically."""
    write_text(path, json.dumps(data))


def save_torch(path: Path | str, obj: Any) -> None:
    """Replace `path` with `torch.save(obj)`, atomically."""
    with atomic_write(path) as f:
        torch.save(obj, f)
