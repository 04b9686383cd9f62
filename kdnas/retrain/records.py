"""Retrain results in the study's storage, and the proxy-to-final rank agreement.

Optuna refuses to change a finished trial's user attributes, so each retrained trial's results
live in one study-level user attribute, ``retrain.trial.<N>``, holding the same names a trial
attribute would: ``final_test_acc``, ``final_val_acc``, ``final_test_acc_nokd``,
``final_val_acc_nokd``, ``kd_gain``, ``retrain_epochs``, ``retrain_seeds`` and every run under
``runs`` (key ``kd-s<seed>`` / ``nokd-s<seed>``). Accuracies are means over the seeds run.
`retrain_results` reads them back by trial number.
"""

from __future__ import annotations

import statistics

import optuna

PREFIX = "retrain.trial."
FINAL_TEST_ACC, FINAL_VAL_ACC = "final_test_acc", "final_val_acc"
FINAL_TEST_ACC_NOKD, FINAL_VAL_ACC_NOKD = "final_test_acc_nokd", "final_val_acc_nokd"
KD_GAIN, RETRAIN_EPOCHS, RETRAIN_SEEDS, RUNS = "kd_gain", "retrain_epochs", "retrain_seeds", "runs"


def summarise(runs: dict[str, dict]) -> dict:
    """The per-trial summary of its runs: means over seeds, the KD gain where both kinds exist."""
    out: dict = {RUNS: runs}
    for kind, test_key, val_key in (("kd", FINAL_TEST_ACC, FINAL_VAL_ACC), ("nokd", FINAL_TEST_ACC_NOKD, FINAL_VAL_ACC_NOKD)):
        sel = [r for r in runs.values() if r["kind"] == kind]
        if sel:
            out[test_key] = statistics.fmean(r["test_acc"] for r in sel)
            out[val_key] = statistics.fmean(r["val_acc"] for r in sel)
    if FINAL_TEST_ACC in out and FINAL_TEST_ACC_NOKD in out:
        out[KD_GAIN] = out[FINAL_TEST_ACC] - out[FINAL_TEST_ACC_NOKD]
    out[RETRAIN_EPOCHS] = max(r["epochs"] for r in runs.values())
    out[RETRAIN_SEEDS] = sorted({r["seed"] for r in runs.values()})
    return out


def record_run(study: optuna.Study, trial: int, run: dict) -> dict:
    """Add (or replace) one run of `trial` in the study and return the trial's new summary."""
    key = f"{PREFIX}{trial}"
    runs = dict((study.user_attrs.get(key) or {}).get(RUNS, {}))
    runs[f"{run['kind']}-s{run['seed']}"] = run
    summary = summarise(runs)
    study.set_user_attr(key, summary)
    return summary


def retrain_results(study: optuna.Study) -> dict[int, dict]:
    """{trial number: summary} of every retrained trial of `study`."""
    return {int(k[len(PREFIX):]): v for k, v in study.user_attrs.items() if k.startswith(PREFIX)}
