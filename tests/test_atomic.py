"""The one atomic write: whole new content or the old file, never half, no temporary left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from kdnas.atomic import atomic_write, save_torch, write_bytes, write_json, write_text


def test_each_writer_replaces_the_file_and_creates_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f"
    write_bytes(target, b"old")
    write_text(target, "n\u00e9w")
    assert target.read_text(encoding="utf-8") == "n\u00e9w"
    write_json(target, {"k": [1, 2]})
    assert json.loads(target.read_text()) == {"k": [1, 2]}
    save_torch(target, {"w": torch.arange(3)})
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.arange(3))
    assert os.listdir(target.parent) == ["f"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write(b"half of the new con")
        assert Path(f.name).parent == tmp_path and Path(f.name) != target  # beside it, under another name
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_the_file_gets_the_umasks_permissions_not_a_private_temp_files(tmp_path: Path) -> None:
    """Caches (teacher outputs, block tables) are shared by the workers of several users."""
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "shared", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644
