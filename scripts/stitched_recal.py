"""Students stitched from their trained blocks, with and without BatchNorm recalibration, ranked
against committed CIFAR-10 fidelity reports' ground truths.

Usage (from the repository root, in the project's environment, after `kdnas bench fidelity` has
built the reports' block table with weights in this checkout's runs/cache/blockwise/):

    python scripts/stitched_recal.py REPORT.json [REPORT.json ...]

Every report must come from the CIFAR-10 teacher2 flags this script rebuilds (the README's
"Proxy fidelity" command): it loads that teacher and table, refuses to train a block (a table
that is not fully cached with weights means other flags), and for each panel member stitches
its blocks (`kdnas.blockwise.stitch`), then scores the stitched network on the table's 512
validation images twice: as the benchmark does (each block's BatchNorm statistics from the
teacher's features it was trained on), and after recomputing every BatchNorm's statistics on
512 training images passed through the stitched network itself (`recalibrate_bn`, as the short
runs are scored). Why: a stitched block is fed its predecessor's output, not the teacher's
features, so the statistics it keeps may describe inputs it no longer sees.

Writes `reports/benchmarks/blockwise-stitched-recal.md` with the command that made it.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from kdnas.arch import Arch
from kdnas.bench import fidelity as fb
from kdnas.blockwise import build_block_table, plan_blocks
from kdnas.blockwise.stitch import stitch
from kdnas.blockwise.table import KD_TEMPERATURE, subset_index
from kdnas.distill.bn_recal import recalibrate_bn
from kdnas.distill import teacher_outputs
from kdnas.distill.losses import kd_loss
from kdnas.space import load_space
from kdnas.teachers import stage_shapes

FLAGS = ("--data cifar10 --panel 16 --max-macs 8e6 --train-subset 10000 --val-subset 1000 --test-subset 10000 "
         "--teacher-train 10000 --teacher-epochs 8 --gt-epochs 12 --block-steps 100 --block-samples 2048 --threads 1")
OUT = Path("reports/benchmarks/blockwise-stitched-recal.md")


def main(reports: list[str]) -> int:
    torch.set_num_threads(1)
    a = fb._parser().parse_args(FLAGS.split())
    data = fb._load(a.data, a.data_root, a.train_subset, a.val_subset, a.test_subset)
    teacher, sha, _, _ = fb._teacher(a, data, [])
    c, h, w = data.input_shape
    shapes = stage_shapes(teacher, data.input_shape)
    bw = fb.block_spec(a, len(data.val))
    plan = plan_blocks(load_space(a.space), (h, w), [(s[1], s[2]) for s in shapes], True)
    # every block should come from the cache here: one trained now means other flags (checked below)
    table = build_block_table(plan, teacher, data.train.x, data.val.x, teacher_id=sha,
                              data_fingerprint=data.fingerprint, num_classes=data.num_classes, spec=bw,
                              need=("tse", "weights"))
    if table.trained:
        print(f"trained {table.trained} blocks: these are not the reports' flags", file=sys.stderr)
        return 2
    pick = subset_index(len(data.val), bw.advanced.val_samples, a.seed)
    x, y = data.val.x[pick], data.val.y[pick]
    t = teacher_outputs(teacher, data.val.x, teacher_id=sha, data_fingerprint=data.fingerprint, split="val").logits[pick]
    rows = []
    for rep in reports:
        r = json.loads(Path(rep).read_text())
        if r["teacher"]["sha256"] != sha:
            print(f"{rep}: another teacher ({r['teacher']['sha256'][:12]}, these flags' is {sha[:12]})", file=sys.stderr)
            return 2
        gt, plain, recal, acc_plain, acc_recal, secs = [], [], [], [], [], []
        for p in r["panel"]:
            model = copy.deepcopy(stitch(table, Arch.from_str(p["arch"])))  # recalibration must not touch the table's blocks
            with torch.inference_mode():
                out = model.eval()(x)
            plain.append(float(kd_loss(out, t, KD_TEMPERATURE)))
            acc_plain.append(float((out.argmax(1) == y).float().mean()))
            t0 = time.perf_counter()
            recalibrate_bn(model, data.train.x, 512, 128, a.seed)
            with torch.inference_mode():
                out = model(x)
            secs.append(time.perf_counter() - t0)
            recal.append(float(kd_loss(out, t, KD_TEMPERATURE)))
            acc_recal.append(float((out.argmax(1) == y).float().mean()))
            gt.append(p["gt"]["acc"])
        gt_s = r["ground_truth"]["seconds_per_arch"]
        tau = lambda v: float(stats.kendalltau(gt, v)[0])  # noqa: E731
        rows.append(f"| `{Path(rep).name}` | {tau(-np.array(plain)):.3f} | {tau(acc_plain):.3f} | "
                    f"{tau(-np.array(recal)):.3f} | {tau(acc_recal):.3f} | {np.mean(acc_plain):.3f} | "
                    f"{np.mean(acc_recal):.3f} | {100 * np.mean(secs) / gt_s:.2f} |")
    command = "python scripts/stitched_recal.py " + " ".join(reports)
    teacher_acc = float((t.argmax(1) == y).float().mean())
    md = ["# Stitched students, with and without BatchNorm recalibration", "",
          f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} by:", "", "```", command, "```",
          "", f"Block table: {table.size} blocks trained {bw.steps} steps (cached, with weights); flags `{FLAGS}`. "
          f"Scored on the table's {len(x)} validation images, on which the teacher's accuracy is {teacher_acc:.3f} "
          "(10 classes: chance is 0.10). Kendall tau against each report's ground truth (the mean over its seeds).", "",
          "| report | tau, KD loss | tau, accuracy | tau, KD loss after recal. | tau, accuracy after recal. | "
          "mean accuracy | mean accuracy after recal. | recal. + scoring, % of a GT run |",
          "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]
    OUT.write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
