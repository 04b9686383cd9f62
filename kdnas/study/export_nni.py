"""`kdnas export STUDY --trial N --nni`: hand a found student back to NNI users as the sample dict
that the space's ``freeze`` accepts (``model_space.freeze(json.load(open(FILE)))``)."""

from __future__ import annotations

import json
from pathlib import Path

from optuna.trial import TrialState

from kdnas.atomic import write_text
from kdnas.errors import UserError
from kdnas.space import open_space
from kdnas.study import records as R
from kdnas.paths import reports_dir
from kdnas.study.config import StudyConfig
from kdnas.study.storage import load_existing


def export_nni_sample(cfg: StudyConfig, trial: int, out: Path | None = None,
                      reports: Path | None = None) -> tuple[Path, dict]:
    """Write trial `trial`'s sample of the NNI-space study `cfg` as JSON; returns (file, sample).

    Any complete trial with an architecture can be exported (trained, duplicate or infeasible);
    the default file is ``reports/<study>/nni-sample-trial<N>.json``.
    """
    if open_space(cfg.space).kind != "nni":
        raise UserError(f"study '{cfg.name}' searches a block-wise space, not an NNI space: --nni does not apply")
    study = load_existing(cfg.storage_url, cfg.name)
    found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
    if not found or found[0].state != TrialState.COMPLETE or R.ARCH not in found[0].user_attrs:
        raise UserError(f"trial {trial} of study '{cfg.name}' is not a complete trial with an architecture")
    sample = json.loads(found[0].user_attrs[R.ARCH])
    out = Path(out) if out else Path(reports or reports_dir()) / cfg.name / f"nni-sample-trial{trial}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, json.dumps(sample, indent=2, sort_keys=True) + "\n")
    return out, sample
