"""A one-paragraph description of the machine a benchmark ran on (for its report)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from kdnas.atomic import write_text
from kdnas.device import cpu_model

__all__ = ["cpu_model", "generated_by", "machine_info", "write_result"]


def machine_info() -> dict[str, object]:
    """nproc, usable CPUs, torch threads, CPU model, torch/Python versions, load average."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = []
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": load,
    }


def generated_by(date: str, command: str) -> list[str]:
    """The Markdown lines every benchmark report opens with: when, and the exact command."""
    return [f"Generated {date} by:", "", "```", command, "```", ""]


def write_result(out_dir: str | Path, name: str, result: dict, markdown: str, *, echo: bool = True) -> None:
    """Write ``<name>.json`` (the raw figures) and ``<name>.md`` (the report) under `out_dir`, each
    atomically (a benchmark killed while writing leaves the committed files whole), and print the
    report unless `echo` is False. Every benchmark writes its report through this."""
    out = Path(out_dir)
    write_text(out / f"{name}.json", json.dumps(result, indent=1, default=str) + "\n")
    write_text(out / f"{name}.md", markdown)
    if echo:
        print(markdown)
