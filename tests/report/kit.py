"""Studies for report tests, written straight into a SQLite storage with the attrs a search records."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.trial import TrialState, create_trial

from kdnas.study import records as R

TEACHER = {"name": "resnet20", "checkpoint": "teacher.pt", "sha256": "ab" * 32, "val_acc": 0.95,
           "macs": 2_000_000, "params": 270_000, "latency_ms": 1.5}


def arch(w1: int = 8, w2: int = 16, e: int = 3, k: int = 3, skip: bool = True) -> str:
    """A canonical architecture string (parses with Arch.from_str)."""
    mid = "skip" if skip else f"dws_s1_k{k}_e1_c{w1}_d1"
    return f"stem_c8-ir_s1_k{k}_e1_c{w1}_d1-{mid}-ir_s2_k3_e{e}_c{w2}_d1-head_c0"


def config(name: str, trials: int = 20, **over: object) -> dict:
    cfg = {"name": name, "seed": 0, "data": {"name": "digits"}, "teacher": {"name": "resnet20"},
           "proxy": {"method": "kd", "steps": 100}, "objectives": ["score", "macs"],
           "constraints": {"max_macs": None}, "budget": {"trials": trials}, "sampler": {"name": "tpe"}}
    cfg.update(over)
    return cfg


def new_study(url: str, name: str, *, trials: int = 20, teacher: dict | None = TEACHER, **over: object) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name=name, directions=["maximize", "minimize"])
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(config(name, trials, **over)))
    if teacher:
        study.set_user_attr(R.STUDY_TEACHER, json.dumps(teacher))
    return study


def add(study: optuna.Study, status: str, arch_text: str, acc: float | None = None, macs: int = 100_000,
        params: int = 5_000, latency_ms: float | None = None, reason: str | None = None, **extra: object) -> None:
    """One trial as the runner records it (status ok | duplicate | infeasible | failed | running)."""
    attrs: dict = {R.ARCH: arch_text, R.MACS: macs, R.PARAMS: params, R.LATENCY_MS: latency_ms, R.CONSTRAINTS: {}}
    state, values = TrialState.COMPLETE, None
    if status in ("ok", "duplicate"):
        attrs.update({R.STATUS: status, R.VAL_ACC: acc, R.WALL_S: 2.0, R.METRICS: {"train_s": 1.8}}
                     | ({R.TRAINED: True} if status == "ok" else {}))
        values = [float(extra.get(R.SCORE, acc)), float(macs)]  # type: ignore[arg-type]
    elif status == "infeasible":
        attrs.update({R.STATUS: status, R.REASON: reason or f"macs {macs} > max_macs"})
        values = [float("-inf"), float("inf")]  # the worst of each objective, as the runner tells them
    elif status == "failed":
        attrs.update({R.STATUS: status, R.REASON: reason or "non-finite loss (nan) at step 3", R.WALL_S: 0.5,
                      R.TRAINED: True})
        state = TrialState.FAIL
    elif status == "running":
        state = TrialState.RUNNING
    attrs.update(extra)
    study.add_trial(create_trial(state=state, values=values, user_attrs=attrs))


def demo_study(url: str, name: str = "demo", acc_shift: float = 0.0) -> optuna.Study:
    """12 trials: 8 trained (7 ok, front: trials 0, 2, 4, 6; a failure), a duplicate, 2 infeasible, one running."""
    s = new_study(url, name)
    add(s, "ok", arch(8, 16), 0.80 + acc_shift, macs=100_000, params=4_000, latency_ms=0.20)       # 0 front
    add(s, "ok", arch(8, 24), 0.78 + acc_shift, macs=150_000, params=6_000, latency_ms=0.25)       # 1
    add(s, "ok", arch(16, 24), 0.86 + acc_shift, macs=200_000, params=7_000, latency_ms=0.30)      # 2 front
    add(s, "ok", arch(16, 32), 0.84 + acc_shift, macs=260_000, params=9_000, latency_ms=0.32)      # 3
    add(s, "ok", arch(16, 32, e=6), 0.90 + acc_shift, macs=300_000, params=11_000, latency_ms=0.40)  # 4 front
    add(s, "ok", arch(24, 32, skip=False), 0.70 + acc_shift, macs=400_000, params=14_000, latency_ms=0.50)  # 5
    add(s, "ok", arch(24, 48, e=6, k=5, skip=False), 0.93 + acc_shift, macs=600_000, params=20_000, latency_ms=0.7)  # 6 front
    add(s, "duplicate", arch(8, 16), 0.80 + acc_shift, macs=100_000, params=4_000, latency_ms=0.20)  # 7
    add(s, "infeasible", arch(48, 96, e=6, k=5, skip=False), macs=5_000_000, params=90_000)       # 8
    add(s, "infeasible", arch(48, 64, e=6, skip=False), macs=3_000_000, params=70_000)            # 9
    add(s, "failed", arch(32, 64, k=5), macs=900_000, params=30_000, reason="CUDA out of memory")  # 10
    add(s, "running", arch(8, 32, k=5), macs=180_000, params=6_500)                                # 11
    return s


DEMO_FRONT = [0, 2, 4, 6]


def tse_study(url: str, name: str = "tse") -> optuna.Study:
    """A study ranked by training loss (proxy.score: tse) whose order differs from its accuracies':
    its front is trials 0, 1, 3; by accuracy it would be 0, 2 (and 2 would lead)."""
    s = new_study(url, name, proxy={"method": "kd", "steps": 100, "score": "tse"})
    for i, (tse, acc, final) in enumerate([(1.20, 0.80, 0.85), (1.10, 0.75, 0.90), (1.15, 0.90, 0.88),
                                           (0.90, 0.85, 0.93)]):
        add(s, "ok", arch(8 + 8 * i, 16), acc, macs=100_000 * (i + 1), score=-tse, final_test_acc=final)
    return s


TSE_FRONT = [0, 1, 3]


def sqlite_url(tmp: Path, file: str = "kdnas.db") -> str:
    return f"sqlite:///{tmp / file}"
