"""Shipped spaces and studies are found by name; a path always wins; the wheel carries them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kdnas.catalog import find_space, shipped_spaces, shipped_studies
from kdnas.errors import ConfigError
from kdnas.space import open_space
from kdnas.study.config import load_study_config

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_space_is_found_by_name_and_loads() -> None:
    spaces = shipped_spaces()
    assert {"mbv2", "resnet", "mixed", "proxyless-cifar", "nni/proxyless-cifar"} <= set(spaces)
    for name, path in spaces.items():
        assert find_space(name) == path
        if not name.startswith("nni") and name != "proxyless-cifar":
            assert open_space(path).size() > 1


def test_shipped_studies_load_from_the_package() -> None:
    studies = shipped_studies()
    assert "demo-digits" in studies
    for path in studies.values():
        assert load_study_config(path).space.is_file()


def test_a_path_wins_over_a_shipped_name(tmp_path: Path) -> None:
    own = tmp_path / "mbv2"  # a user's file that happens to have a shipped space's name
    own.write_text("name: mine\n")
    assert find_space("mbv2", tmp_path) == own
    assert find_space("mbv2") == shipped_spaces()["mbv2"]


def test_unknown_name_and_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no search space named 'nosuch'; shipped spaces: .*mbv2"):
        find_space("nosuch", tmp_path)
    with pytest.raises(ConfigError, match="search-space file 'gone.yaml' not found"):
        find_space("gone.yaml", tmp_path)


def test_wheel_carries_spaces_and_studies(tmp_path: Path) -> None:
    """Build the wheel as pip would and use it from an empty folder, outside the checkout."""
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "runs", "reports", "build", "*.egg-info", "__pycache__", "tests", "docs"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("kdnas-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kdnas/search_spaces/mbv2.yaml" in names and "kdnas/studies/demo-digits.yaml" in names
    assert not any(n.startswith(("benchmarks/", "tests/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "KDNAS_RUNS": str(empty / "runs")}

    def kdnas(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kdnas", *args], cwd=empty, capture_output=True, text=True,
                              timeout=120, env=env)

    show = kdnas("space", "show", "mbv2")
    assert show.returncode == 0, show.stderr
    assert "distinct architectures" in show.stdout
    listed = kdnas("space", "list")
    assert f"{site}/kdnas/search_spaces/mbv2.yaml" in listed.stdout, listed.stdout  # the wheel's copy, not the checkout's
