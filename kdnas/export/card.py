"""The model card: what a deployed student is, how good and fast it is, how it was made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from kdnas.atomic import write_text


def git_revision(cwd: Path | None = None) -> str:
    """``git rev-parse HEAD`` of `cwd` (default: kdnas's own source folder), "unknown" outside a repository."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    if isinstance(v, (dict, list)):
        return f"`{json.dumps(v)}`"
    return "—" if v is None else str(v)


def write_model_card(folder: Path, card: dict) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into `folder`; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / "model_card.json", folder / "model_card.md"
    write_text(js, json.dumps(card, indent=2, sort_keys=False) + "\n")
    lines = [f"# Model card: {card.get('name', 'student')}", "", "| field | value |", "|---|---|"]
    for key, value in card.items():
        if key not in ("recipe", "name"):
            lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", "## Recipe", "", "```json", json.dumps(card.get("recipe", {}), indent=2), "```", ""]
    write_text(md, "\n".join(lines))
    return js, md
