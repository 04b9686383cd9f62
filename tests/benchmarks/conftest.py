"""The research harnesses' tests: one fast end-to-end test per harness runs in every suite; the
in-depth ones (marked `research`: several processes, committed ground truths, held-out panels) train
a dozen tiny ground truths each and run only with KDNAS_RESEARCH_TESTS=1, before changing a harness.
"""

from __future__ import annotations

import os

import pytest

RESEARCH_ENV = "KDNAS_RESEARCH_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"research: a research harness in depth; runs with {RESEARCH_ENV}=1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(RESEARCH_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"research harness in depth: {RESEARCH_ENV}=1 runs it")
    for item in items:
        if item.get_closest_marker("research"):
            item.add_marker(skip)
