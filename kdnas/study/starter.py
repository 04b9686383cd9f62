"""`kdnas init`: a starter study for the user's own data and teacher, on today's defaults.

The file is written from a commented template, then read back through the same validation as any
study, so what `init` writes always loads. Only what a user should look at is written; every other
setting keeps its default (docs/configuration.md lists them all).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kdnas.atomic import write_text
from kdnas.errors import UserError
from kdnas.study.config import config_from_dict

_TEMPLATE = """\
# A kdnas study: search students of your teacher on your data.
# Reference of every field: docs/configuration.md. Run it with: kdnas search {out_name}
name: {name}
description: students of {teacher} on {data}

data:
  name: {data}{root_line}
  val_fraction: 0.1      # held out from training: students are ranked on it
  test_fraction: 0.2     # never seen by the search; `kdnas retrain` reports on it

teacher:
  name: {teacher}        # a zoo name (`kdnas teacher list`) or package.module:function{checkpoint_line}
  # feature_modules: [layer1, layer2, layer3]   # needed by `proxy.method: hint` for a factory teacher
{training_line}
space: {space}               # a shipped space (`kdnas space show {space}`) or your own space file

proxy:                   # the short distillation run that scores each student
  method: kd             # kd | hint | ce (no teacher) | blockwise (score the space from a block table) | similarity
  steps: {steps}             # optimizer steps per student: more ranks better and costs more

objectives: [score, macs]  # the proxy's score against a cost: macs, params or latency

constraints:             # hard limits: a student over any of them is never trained
  max_macs: {max_macs}

budget:
  trials: {trials}             # students trained; run the same command again to continue the study
  # time_minutes: 60

# device: auto           # auto | cpu | cuda | cuda:N
# executor: {{kind: ray, gpus_per_trial: 0.25}}   # several trials at once: docs/distributed.md
"""


def write_starter(out: Path, *, data: str, data_root: Path | None, teacher: str, checkpoint: Path | None,
                  name: str | None = None, space: str = "mbv2", max_macs: str = "5M", trials: int = 30,
                  steps: int = 200, force: bool = False) -> Path:
    """Write a starter study to `out` and check that it loads; returns `out`."""
    out = Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} already exists (use --force to overwrite it)")
    if data_root is not None and not Path(data_root).is_dir():
        raise UserError(f"--data-root {data_root}: no such folder")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise UserError(f"--checkpoint {checkpoint}: no such file")
    text = _TEMPLATE.format(
        name=name or out.stem, out_name=out.name, data=data, teacher=teacher, space=space,
        root_line=f"\n  root: {Path(data_root).resolve()}" if data_root is not None else "",
        checkpoint_line=f"\n  checkpoint: {Path(checkpoint).resolve()}" if checkpoint is not None else "",
        training_line="" if checkpoint is not None else
        "teacher_training:        # no checkpoint: the search trains the teacher first (or: kdnas teacher train)\n"
        "  auto: true\n",
        max_macs=max_macs, trials=trials, steps=steps)
    # read back as `kdnas search` will read the file: a starter that does not load is never written
    config_from_dict(yaml.safe_load(text), source=str(out), base_dir=out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    return out
