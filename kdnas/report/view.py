"""What a report shows about one study, read from its storage once and computed without I/O.

`StudyView` is the only thing the page, the figure and the summary look at, so a study is read
once per report (reading is most of the cost for a large study) and every number on the page comes
from the same snapshot, even while a search is still writing to the storage.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd

from kdnas.arch import Arch
from kdnas.errors import ConfigError
from kdnas.pareto import hypervolume_2d, non_dominated_mask
from kdnas.report.rungs import runs_spent
from kdnas.report.score import ScoreAxis, axis_of
from kdnas.study import records as R
from kdnas.study.budget import Counts, count_rows
from kdnas.study.front import front_frame_of, trials_frame_of
from kdnas.study.schema import migrate

FINAL_TEST_ACC = "final_test_acc"  # written by retraining (kdnas retrain); absent until then
#: Statuses of trials with no accuracy, in the order the "not trained" strip shows them.
UNTRAINED = ("infeasible", "failed", "running")


@dataclass(frozen=True)
class StudyView:
    """One study as the report sees it: trials, front, teacher, config (a snapshot)."""

    name: str
    trials: pd.DataFrame  # `trials_frame` columns + final_test_acc
    front: pd.DataFrame  # `front_frame`: the study's Pareto front in its own objectives
    teacher: dict | None
    config: dict
    objectives: list[str] = field(default_factory=lambda: ["score", "macs"])
    latency_spec: dict | None = None  # the study's `latency_spec` attribute: how its latencies were measured
    rungs: list[int] = field(default_factory=list)  # successive halving's rungs (proxy steps); empty: plain

    @property
    def budget(self) -> int | None:
        """The stored config's budget.trials (None when the study has no kdnas config)."""
        return (self.config.get("budget") or {}).get("trials")

    @property
    def ok(self) -> pd.DataFrame:
        """Feasible, trained trials (status ok): the ones with a proxy accuracy of their own (with
        successive halving, of the whole proxy run: the top rung's)."""
        return self.trials[(self.trials["status"] == R.STATUS_OK) & ~self.trials["below_top"].astype(bool)]

    @property
    def done(self) -> int:
        """What the budget (`budget.trials`) has counted so far: students trained, or with successive
        halving whole proxy runs' worth of student-steps."""
        return runs_spent(self.trials, self.rungs) if self.rungs else self.counts.trained

    def count(self, status: str) -> int:
        return int((self.trials["status"] == status).sum())

    @property
    def counts(self) -> Counts:
        """Sampled, trained, ok, failed, infeasible, duplicate and running trials."""
        return count_rows(self.trials["status"], self.trials["trained"], self.trials["rung_steps"])

    @property
    def axis(self) -> ScoreAxis:
        """What ranked the study's trials (its `proxy.advanced.score`)."""
        return axis_of(self.config)

    @property
    def has_latency(self) -> bool:
        return bool(self.trials["latency_ms"].notna().any())

    @property
    def latency_setting(self) -> str | None:
        """How the study's latencies were measured, in words; None when it recorded no spec."""
        spec = self.latency_spec
        if not spec:
            return None
        # a spec stored before `backend` existed was measured in PyTorch eager
        backend, provider = spec.get("backend", "torch"), spec.get("provider", "eager")
        how = {"table": "; predicted by the space's latency table",
               "table_then_measure": "; screened by the space's latency table, each student measured before training"}
        return (f"{backend} ({provider}) on {spec.get('device')}, batch {spec.get('batch_size')}, "
                f"{spec.get('threads')} thread(s), median of {spec.get('repeats')}{how.get(spec.get('mode', ''), '')}")


def _json_attr(study: optuna.Study, key: str, default: object) -> object:
    raw = study.user_attrs.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return default


def load_view(study: optuna.Study) -> StudyView:
    """Read the study's trials once and derive the tables from that one snapshot."""
    trials = study.get_trials(deepcopy=False)
    frame = trials_frame_of(trials)
    frame[FINAL_TEST_ACC] = [t.user_attrs.get(FINAL_TEST_ACC) for t in trials]
    for col in ("val_acc", "score", "macs", "params", "latency_ms", FINAL_TEST_ACC):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    config = _json_attr(study, R.STUDY_CONFIG, {})
    config = migrate(config)[0] if isinstance(config, dict) else {}  # an older study read in today's shape
    teacher = _json_attr(study, R.STUDY_TEACHER, None)
    latency_spec = _json_attr(study, R.STUDY_LATENCY_SPEC, None)
    rungs = _json_attr(study, R.STUDY_RUNGS, [])
    return StudyView(
        name=study.study_name,
        trials=frame,
        front=front_frame_of(trials, study.directions),
        teacher=teacher if isinstance(teacher, dict) and "val_acc" in teacher else None,
        config=config,
        objectives=list(config.get("objectives", ["score", "macs"])),
        latency_spec=latency_spec if isinstance(latency_spec, dict) else None,
        rungs=[int(s) for s in rungs] if isinstance(rungs, list) else [],
    )


_LIMITS = {"macs": "max_macs", "params": "max_params", "latency_ms": "max_latency_ms"}


def cost_limits(views: list[StudyView], cost: str) -> list[float]:
    """The distinct hard limits on `cost` (constraints.max_*) of the studies on a page."""
    vals = {(v.config.get("constraints") or {}).get(_LIMITS[cost]) for v in views}
    return sorted(float(x) for x in vals if isinstance(x, (int, float)) and x > 0)


# ---- 2-D fronts and hypervolume ---------------------------------------------------------------

def front_2d(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of the points non-dominated in (max accuracy, min cost)."""
    if len(acc) == 0:
        return np.zeros(0, dtype=bool)
    return non_dominated_mask(np.column_stack([-np.asarray(acc, float), np.asarray(cost, float)]))


def hv_macs_scale(views: list[StudyView]) -> float | None:
    """The MACs that normalise the hypervolume of every study on one page.

    The largest `constraints.max_macs` when every study sets one (the feasible region's edge),
    otherwise 1.1 x the largest MACs of any feasible trained trial on the page. Shared by all
    studies on a page so that their curves can be compared.
    """
    limits = [((v.config.get("constraints") or {}).get("max_macs")) for v in views]
    if limits and all(isinstance(x, (int, float)) and x > 0 for x in limits):
        return float(max(limits))  # type: ignore[type-var]
    macs = [float(v.ok["macs"].max()) for v in views if len(v.ok) and v.ok["macs"].notna().any()]
    return 1.1 * max(macs) if macs else None


HV_REFERENCE = (0.0, 1.0)  # (-accuracy, MACs / scale): accuracy 0 at the scale's MACs
HV_DOC = ("hypervolume of (-accuracy, MACs / M) with reference point (0, 1), where M is the largest "
          "constraints.max_macs when every study sets one, else 1.1 x the largest MACs of a feasible "
          "trained trial on the page; 1.0 would be 100 % accuracy at zero MACs")


def hypervolume_curve(view: StudyView, scale: float | None) -> pd.DataFrame:
    """Hypervolume of the feasible trained trials up to each trial number (one row per trial); with
    successive halving, of the top rung's trials only (an accuracy after a short rung is no point of
    the front)."""
    t = view.trials.sort_values("trial")
    if scale is None or t.empty:
        return pd.DataFrame({"trial": t["trial"].to_numpy(), "hypervolume": np.zeros(len(t))})
    ref = np.array(HV_REFERENCE)
    front = np.empty((0, 2))
    hv, out = 0.0, []
    ok = (t["status"] == R.STATUS_OK) & ~t["below_top"].astype(bool) & t["val_acc"].notna() & t["macs"].notna()
    for is_ok, acc, macs in zip(ok.to_numpy(), t["val_acc"].to_numpy(), t["macs"].to_numpy()):
        if is_ok:
            p = np.array([-float(acc), float(macs) / scale])
            # Only a point that no front member dominates changes the area (keeps this O(N * front)).
            if not np.any(np.all(front <= p, axis=1)):
                keep = ~np.all(p <= front, axis=1)
                front = np.vstack([front[keep], p])
                hv = hypervolume_2d(front, ref)
        out.append(hv)
    return pd.DataFrame({"trial": t["trial"].to_numpy(), "hypervolume": out})


# ---- headline figures -------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    """The figures a reader wants first."""

    n_trials: int
    by_status: dict[str, int]
    counts: Counts
    best: dict | None  # row of the best accuracy (trial, val_acc, macs, arch)
    cheap_near_best: dict | None  # smallest MACs within 1 point of the best accuracy
    hypervolume: float | None  # None for a study whose trials measure no accuracy (`measures_accuracy`)


def measures_accuracy(view: StudyView) -> bool:
    """Whether the study's trials record an accuracy: not those ranked by the similarity proxy, whose
    accuracy-based figures (hypervolume) would read 0 for want of data, not for a poor front."""
    return view.axis.kind != "similarity"


def headline(view: StudyView, scale: float | None) -> Headline:
    ok = view.ok.dropna(subset=["val_acc"])
    best = near = None
    if len(ok):
        b = ok.loc[ok["val_acc"].idxmax()]
        best = {k: b[k] for k in ("trial", "val_acc", "macs", "params", "arch")}
        close = ok[ok["val_acc"] >= b["val_acc"] - 0.01]
        n = close.loc[close["macs"].idxmin()]
        near = {k: n[k] for k in ("trial", "val_acc", "macs", "params", "arch")}
    curve = hypervolume_curve(view, scale)
    hv = (float(curve["hypervolume"].iloc[-1]) if len(curve) else 0.0) if measures_accuracy(view) else None
    counts = Counter(view.trials["status"])
    return Headline(len(view.trials), dict(counts), view.counts, best, near, hv)


# ---- block choices on the front ---------------------------------------------------------------

STAGE_FIELDS = ("op", "kernel", "expand", "width", "depth")


def block_usage(front: pd.DataFrame) -> list[dict[str, Counter]]:
    """Per stage, how often each choice appears among the front's architectures.

    Element 0 is the stem/head ({"stem": ..., "head": ...}); then one dict per stage. A skip
    stage counts only as op 'skip'. Architectures that do not parse are left out.
    """
    archs = []
    for text in front["arch"]:
        try:
            archs.append(Arch.from_str(str(text)))
        except ConfigError:
            continue
    if not archs:
        return []
    n_stages = max(len(a.stages) for a in archs)
    out: list[dict[str, Counter]] = [{"stem": Counter(a.stem for a in archs), "head": Counter(a.head for a in archs)}]
    for i in range(n_stages):
        stage = {f: Counter() for f in STAGE_FIELDS}
        for a in archs:
            if i >= len(a.stages):
                continue
            s = a.stages[i]
            stage["op"][s.op] += 1
            if s.op != "skip":
                for f in STAGE_FIELDS[1:]:
                    stage[f][getattr(s, f)] += 1
        out.append(stage)
    return out


# ---- proxy score against final accuracy --------------------------------------------------------

@dataclass(frozen=True)
class RankCorrelation:
    n: int
    kendall_tau: float
    spearman_rho: float
    pairs: pd.DataFrame  # trial, arch, val_acc, score, final_test_acc
    axis: ScoreAxis  # what the proxy ranked by (`x` of the pairs: their `axis.column`)


def rank_correlation(view: StudyView) -> RankCorrelation | None:
    """Kendall tau and Spearman rho of the proxy's score (the study's `proxy.advanced.score`) against final
    test accuracy (retrained trials)."""
    col = view.axis.column
    t = view.ok.dropna(subset=[col, FINAL_TEST_ACC])
    if len(t) < 2:
        return None
    x, y = t[col].to_numpy(float), t[FINAL_TEST_ACC].to_numpy(float)
    try:
        from scipy import stats

        tau, rho = float(stats.kendalltau(x, y).statistic), float(stats.spearmanr(x, y).statistic)
    except ImportError:  # scipy comes with scikit-learn; pandas is the fallback
        s = pd.Series(x)
        tau, rho = float(s.corr(pd.Series(y), method="kendall")), float(s.corr(pd.Series(y), method="spearman"))
    return RankCorrelation(len(t), tau, rho, t[["trial", "arch", "val_acc", "score", FINAL_TEST_ACC]].reset_index(drop=True),
                           view.axis)
