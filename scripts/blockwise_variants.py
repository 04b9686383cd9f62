"""Other ways of scoring students from the block table, ranked against the committed fidelity
reports' ground truths: no training, only the figures those reports keep.

Usage (from the repository root, in the project's environment):

    python scripts/blockwise_variants.py REPORT.json [REPORT.json ...]

For every report with per-component block losses (the fidelity benchmark's `blockwise_components`)
it writes one row of Kendall tau against that report's ground truth, for:

- `sum`: the block-wise score as the benchmark computes it (the sum of per-group normalised losses);
  it must equal the report's own `blockwise` tau, which checks that this script reads the reports right;
- `panel z`, `panel rank`: each component standardised (z-score), or replaced by its rank, across
  the panel before summing, so no component outweighs another by its spread;
- `tse`: the block's training speed (mean training loss over its steps) instead of its validation
  loss, where the report's block records keep it (`blockwise_tse`, reports written from 2026-11-25 on);
- `fit on kd@N-S`: DONNA's predictor fitted on *short-run* scores instead of ground truth: a ridge
  regression from the per-component losses and log-MACs to the other panel members' short-KD score
  (leave-one-out), which a search could fit on the students it confirms. Ranked against the ground
  truth next to the short run it was fitted on (`kd`).

The table goes to `reports/benchmarks/blockwise-variants.md` with the command that made it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from kdnas.bench.predictor import features, loo_predictions

OUT = Path("reports/benchmarks/blockwise-variants.md")


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.kendalltau(x, y)[0])


def variants(report: dict) -> dict[str, float]:
    """Kendall tau of each variant against the report's ground truth (see module doc)."""
    panel = report["panel"]
    gt = np.array([p["gt"]["acc"] for p in panel])
    comp = np.array([p["blockwise_components"] for p in panel], dtype=float)
    sd = comp.std(0)
    z = ((comp - comp.mean(0)) / np.where(sd > 0, sd, 1.0)).sum(1)
    ranks = np.array([stats.rankdata(comp[:, i]) for i in range(comp.shape[1])]).sum(0)
    out = {"reported": report["proxies"]["blockwise"]["tau"], "sum": _tau(-comp.sum(1), gt),
           "panel z": _tau(-z, gt), "panel rank": _tau(-ranks, gt)}
    if "blockwise_tse" in panel[0]:
        out["tse"] = _tau(np.array([p["blockwise_tse"]["score"] for p in panel]), gt)
    x = features(comp, [p["macs"] for p in panel])
    for name in sorted(k for k in panel[0] if k.startswith("kd@") and k.endswith(("-tse", "-tselate"))):
        short = np.array([p[name]["score"] for p in panel])
        out[f"{name}: kd"] = _tau(short, gt)
        out[f"{name}: fit"] = _tau(loo_predictions(x, short), gt)
    return out


def main(paths: list[str]) -> int:
    rows = []
    for path in sorted(paths):
        r = json.loads(Path(path).read_text())
        if not r.get("panel") or "blockwise_components" not in r["panel"][0]:
            continue
        v = variants(r)
        assert abs(v["sum"] - v["reported"]) < 1e-9, (path, v)
        rows.append((Path(path).stem, r["data"]["name"], v))
    lines = ["# Block-wise scoring variants against the fidelity reports' ground truths", "",
             f"Command: `python scripts/blockwise_variants.py {' '.join(sorted(paths))}`", "",
             "Kendall tau against each report's ground truth (its mean over training seeds). No training: every figure "
             "comes from what the report keeps. See the script's docstring for each variant.", "",
             "| report | data | sum (reported) | panel z | panel rank | block tse |",
             "|---|---|---:|---:|---:|---:|"]
    for stem, data, v in rows:
        tse = f"{v['tse']:.3f}" if "tse" in v else ""
        lines.append(f"| {stem} | {data} | {v['sum']:.3f} | {v['panel z']:.3f} | {v['panel rank']:.3f} | {tse} |")
    lines += ["", "DONNA's predictor fitted on short-run scores (leave-one-out, per-component block losses and log-MACs "
              "as features) against the short run itself:", "",
              "| report | short run | short run tau | fitted predictor tau |", "|---|---|---:|---:|"]
    for stem, _, v in rows:
        for key in [k for k in v if k.endswith(": kd")]:
            name = key[: -len(": kd")]
            lines.append(f"| {stem} | {name} | {v[key]:.3f} | {v[f'{name}: fit']:.3f} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
