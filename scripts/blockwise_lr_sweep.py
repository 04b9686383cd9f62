"""The block learning-rate sweep, tabulated from committed fidelity reports: no training, only the
figures those reports keep.

Usage (from the repository root, in the project's environment):

    python scripts/blockwise_lr_sweep.py REPORT.json [REPORT.json ...]

Reports are grouped by data set and panel (their ground truth); within a group, one row per report,
ordered by the block table's learning rate (`--block-lr`) and steps. Each row gives the table's
mean and median validation loss over all its blocks (normalised MSE; lower is a closer imitation of
the teacher's features), the stitched students' mean accuracy on the table's validation images
(chance is 0.10; `kdnas.blockwise.stitch`), its block-training seconds, and Kendall tau against the
ground truth for every block-wise score the benchmark ranks, with MACs for reference.

The table goes to `reports/benchmarks/blockwise-lr-sweep.md` with the command that made it.
"""

from __future__ import annotations

import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

OUT = Path("reports/benchmarks/blockwise-lr-sweep.md")
PROXIES = ("blockwise", "blockwise_tse", "blockwise_stitched", "blockwise_stitched_acc", "blockwise_fit", "macs_proxy")


def row(path: Path) -> tuple[tuple, dict]:
    """(group key, figures) of one report."""
    r = json.loads(path.read_text())
    table = r["block_table"]
    losses = [b["loss"] for b in table["records"]]
    panel = r["panel"]
    stitched = [p["blockwise_stitched_acc"]["score"] for p in panel if "blockwise_stitched_acc" in p]
    key = (r["data"]["name"], tuple(sorted(p["arch"] for p in panel)))
    fig = {"report": path.stem, "lr": table["settings"]["lr"], "steps": table["settings"]["steps"],
           "loss_mean": statistics.mean(losses), "loss_median": statistics.median(losses),
           "stitched_acc": statistics.mean(stitched) if stitched else None,
           "block_s": table["block_train_s"],
           **{k: r["proxies"][k]["tau"] for k in PROXIES if k in r["proxies"]}}
    return key, fig


def main(paths: list[str]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for p in paths:
        key, fig = row(Path(p))
        groups.setdefault(key, []).append(fig)
    out = ["# Block table learning rate", "",
           f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by:", "", "```",
           "python scripts/blockwise_lr_sweep.py " + " ".join(paths), "```", "",
           "One table per ground truth (data set and panel). Block losses are the mean and median over "
           "all the table's blocks; stitched accuracy is the panel's mean (chance 0.10). Tau columns: "
           "Kendall tau against the ground truth.", ""]
    head = ["report", "lr", "steps", "loss mean", "loss median", "stitched acc", "block s", *PROXIES]
    for (data, archs), figs in groups.items():
        out += [f"## {data}, panel of {len(archs)} ({figs[0]['report']} and others)", "",
                "| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
        for f in sorted(figs, key=lambda f: (f["lr"], f["steps"])):
            cells = [f"`{f['report']}`", f"{f['lr']:g}", str(f["steps"]), f"{f['loss_mean']:.3f}",
                     f"{f['loss_median']:.3f}", "" if f["stitched_acc"] is None else f"{f['stitched_acc']:.3f}",
                     f"{f['block_s']:.0f}", *(f"{f[k]:.3f}" if k in f else "" for k in PROXIES)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    OUT.write_text("\n".join(out))
    print(OUT)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/blockwise_lr_sweep.py REPORT.json [REPORT.json ...]")
    main(sys.argv[1:])
