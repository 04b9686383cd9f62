"""Shared fixtures for the kdnas.data tests: an isolated runs folder and a local HTTP server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
if not SHARED.is_dir():  # the checkout may live elsewhere; this is where the machines keep it
    SHARED = Path("/work/shared/datasets")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches and default data dirs go to tmp; no mirror set by the caller leaks in."""
    monkeypatch.setenv("KDNAS_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("KDNAS_DATA_DIR", raising=False)
    for name in ("MNIST", "FASHION_MNIST", "CIFAR10", "CIFAR100"):
        monkeypatch.delenv(f"KDNAS_MIRROR_{name}", raising=False)


@pytest.fixture
def shared_datasets() -> Path:
    """The shared real data sets folder."""
    return SHARED


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over http://127.0.0.1:<port>/ while the test runs: (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
