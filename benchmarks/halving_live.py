"""`python -m benchmarks.halving_live`: successive halving against the plain loop, live, at equal wall time.

Not a replay: two real `kdnas search` processes on the real space, started together and run side by
side (one torch thread each, so the noise of a shared machine hits both alike), each with its own
runs folder and storage. Their study files differ only in `search` (plain, or halving with
`min_steps`/`eta`); both have the same data, teacher, space, MAC limit, proxy, sampler and seed, and
the same `budget.time_minutes`, with a `budget.trials` that the time cannot exhaust, so the time is
what stops both. Then each study's front is read as `kdnas report` reads it (the top rung's results
only: every member trained for the whole proxy run) and its hypervolume computed with one MAC scale
for both (`kdnas.report.view`).

One seed's pair is one unit of work, kept under runs/halving_live/<settings>/seed<N>/ once finished,
so `--seeds 0 1` after `--seeds 0` runs only seed 1 and reports both. A pair cut short (a kill, a
lock's timeout) is run again from the start: half a timed run cannot be continued at equal time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

import kdnas
from benchmarks.command import command_line, run
from benchmarks.fidelity import SHARED_ROOTS
from benchmarks.halving_live_report import markdown
from benchmarks.machine import machine_info, write_result
from kdnas.atomic import write_json, write_text
from kdnas.errors import UserError
from kdnas.paths import runs_dir

REPO = Path(kdnas.__file__).resolve().parents[1]
# the fidelity panel's Fashion-MNIST teacher (resnet20, 8 epochs on the same 5,000 training images);
# kept in git history: `git checkout 59666ae -- reports/benchmarks/teachers/`
TEACHER = REPO / "reports" / "benchmarks" / "teachers" / "c22b560d8251f6df.pt"
STRATEGIES = ("plain", "halving")
NAME = "halving-live"


def study_dict(a: argparse.Namespace, strategy: str, seed: int, folder: Path) -> dict:
    """The study file of one side of a pair: the two differ only in `search`."""
    search = ({"strategy": "halving", "min_steps": a.min_steps, "eta": a.eta} if strategy == "halving"
              else {"strategy": "plain"})
    return {
        "name": f"{NAME}-s{seed}", "seed": seed,
        # the teacher's draw: 5,000 training and 1,000 validation images of seed 0, whatever the study seed
        "data": {"name": a.data, "root": str(a.data_root) if a.data_root else None, "max_train": a.train_subset,
                 "max_val": a.val_subset, "seed": 0, "download": False},
        "teacher": {"name": "resnet20", "checkpoint": str(a.teacher.resolve())},
        "space": str(a.space), "proxy": {"method": "kd", "steps": a.steps, "threads": 1},
        "objectives": ["score", "macs"], "constraints": {"max_macs": a.max_macs},
        "budget": {"trials": a.trials, "time_minutes": a.minutes},
        "search": search, "sampler": {"name": a.sampler},
        "storage": f"sqlite:///{(folder / 'study.db').resolve()}",
    }


def teacher_file(path: Path, root: Path) -> Path:
    """A checkpoint `kdnas search` reads: `path` itself, or for a fidelity panel's teacher (its weights
    under "state") their state dict, written once under `root`."""
    import torch

    from kdnas.atomic import save_torch

    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not (isinstance(blob, dict) and "state" in blob):
        return path
    out = root / f"teacher-{path.stem}.pt"
    if not out.is_file():
        save_torch(out, blob["state"])
    return out


def _settings(a: argparse.Namespace) -> dict:
    """What decides a pair's result (not the seeds, nor where the report goes)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items() if k not in ("seeds", "out", "work")}


def _start(a: argparse.Namespace, strategy: str, seed: int, folder: Path) -> tuple[subprocess.Popen, float]:
    """Write one side's study file and start its `kdnas search` (one thread; its own runs folder)."""
    folder.mkdir(parents=True)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study_dict(a, strategy, seed, folder), sort_keys=False))
    # its own runs and reports folders; this checkout's kdnas first (not another editable install's)
    env = {**os.environ, "KDNAS_RUNS": str((folder / "runs").resolve()), "KDNAS_REPORTS": str((folder / "reports").resolve()),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(folder / "search.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kdnas", "search", str(path), "--no-progress"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    return proc, time.monotonic()


def run_pair(a: argparse.Namespace, seed: int, folder: Path) -> dict:
    """Run both searches of one seed side by side; their wall times, exit codes and load averages."""
    shutil.rmtree(folder, ignore_errors=True)  # a pair cut short starts again: equal time needs whole runs
    load_before = [round(v, 2) for v in os.getloadavg()]
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    procs = {s: _start(a, s, seed, folder / s) for s in STRATEGIES}
    walls: dict[str, float] = {}
    try:
        while len(walls) < len(procs):  # each side's own end, whichever ends first
            for s, (proc, t0) in procs.items():
                if s not in walls and proc.poll() is not None:
                    walls[s] = time.monotonic() - t0
                    if proc.returncode != 0:
                        tail = (folder / s / "search.log").read_text()[-2000:]
                        raise RuntimeError(f"the {s} search exited with {proc.returncode}; the end of its log:\n{tail}")
            time.sleep(0.2)
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
    return {"seed": seed, "started": started, "wall_s": walls, "loadavg_before": load_before,
            "loadavg_after": [round(v, 2) for v in os.getloadavg()]}


def _study_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def measure(a: argparse.Namespace, seed: int, folder: Path, timing: dict) -> dict:
    """Each side's front, hypervolume (one MAC scale for both), counts and steps, from its storage."""
    from kdnas.report.rungs import rung_agreement
    from kdnas.report.view import front_2d, headline, hv_macs_scale, load_view
    from kdnas.study.storage import load_existing

    studies = {s: load_existing(_study_url(folder / s), f"{NAME}-s{seed}") for s in STRATEGIES}
    views = {s: load_view(study) for s, study in studies.items()}
    scale = hv_macs_scale(list(views.values()))
    out: dict = {**timing, "macs_scale": scale, "sides": {}}
    for s, v in views.items():
        t = v.trials
        top = a.steps
        rungs = v.rungs or [top]
        below = dict(zip(rungs, [0, *rungs[:-1]]))
        steps_of = t["rung_steps"].fillna(top).astype(int)  # a plain study's trials are whole runs
        trained = t["trained"].astype(bool)
        first = (steps_of == rungs[0]) & t["status"].isin(["ok", "failed", "infeasible", "duplicate"])
        ok = v.ok.dropna(subset=["val_acc"])
        front = ok[front_2d(ok["val_acc"].to_numpy(), ok["macs"].to_numpy())].sort_values("macs")
        t0 = t["started"].min()
        span = (t["finished"].max() - t0).total_seconds()
        over_time = {}
        for frac in (0.25, 0.5, 0.75, 1.0):
            cut = t0 + _dt.timedelta(minutes=a.minutes * frac)
            part = dataclasses.replace(v, trials=t[t["finished"].notna() & (t["finished"] <= cut)])
            over_time[str(frac)] = headline(part, scale).hypervolume
        out["sides"][s] = {
            "hypervolume": headline(v, scale).hypervolume,
            "hypervolume_over_time": over_time,
            "rungs": rungs,
            "students_sampled": int(first.sum()),
            "infeasible": int((t["status"] == "infeasible").sum()),
            "duplicates": int((t["status"] == "duplicate").sum()),
            "failed": int((t["status"] == "failed").sum()),
            "trained_per_rung": {str(r): int((trained & (steps_of == r)).sum()) for r in rungs},
            "ok_per_rung": {str(r): int(((t["status"] == "ok") & (steps_of == r)).sum()) for r in rungs},
            "student_steps": int(sum(r - below[r] for r in steps_of[trained])),
            "top_rung_students": int(len(ok)),
            "rung_tau": [dataclasses.asdict(p) for p in rung_agreement(t)],
            "front": [{"trial": int(r.trial), "arch": r.arch, "val_acc": float(r.val_acc), "macs": int(r.macs)}
                      for r in front.itertuples()],
            "best_val_acc": float(ok["val_acc"].max()) if len(ok) else None,
            "search_span_s": span,  # first trial started to last trial finished
            "promotions": promotion_audit(studies[s].get_trials(deepcopy=False), a.eta),
        }
    return out


_TIMING = ("seed", "started", "wall_s", "loadavg_before", "loadavg_after")


def promotion_audit(trials: list, eta: int) -> dict:
    """Each promotion checked against the rule (`kdnas.study.halving.promotable`) on the results of the
    rung below that had finished when the promotion started; and how many promoted the student whose
    result had come in last (asynchronous halving promotes a newcomer at once when it enters the top)."""
    from optuna.trial import TrialState

    from kdnas.study import records as R
    from kdnas.study.halving import promotable

    by_number = {t.number: t for t in trials}
    ok = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    promotions = sorted((t for t in trials if t.user_attrs.get(R.PROMOTED_FROM) is not None
                         and t.state != TrialState.PRUNED), key=lambda t: t.number)
    follows_rule = newest = 0
    for p in promotions:
        source, rung = by_number[p.user_attrs[R.PROMOTED_FROM]], p.user_attrs[R.RUNG] - 1
        below = [t for t in ok if t.user_attrs.get(R.RUNG) == rung and t.datetime_complete <= p.datetime_start]
        before = {by_number[q.user_attrs[R.PROMOTED_FROM]].user_attrs[R.ARCH] for q in promotions
                  if q.number < p.number and q.user_attrs[R.RUNG] == rung + 1}
        allowed = promotable({t.user_attrs[R.ARCH]: tuple(t.values) for t in below}, before, eta)
        follows_rule += source.user_attrs[R.ARCH] in allowed
        newest += bool(below) and source.number == max(below, key=lambda t: t.datetime_complete).number
    return {"n": len(promotions), "follow_the_rule": follows_rule, "of_the_newest_result": newest}


def pair(a: argparse.Namespace, seed: int, root: Path) -> dict:
    """One seed's pair, run now unless its two searches finished before (their timing is kept beside
    their storages), measured from the storages."""
    folder = root / f"seed{seed}"
    done = folder / "timing.json"
    if done.is_file():
        timing = json.loads(done.read_text())
    elif (folder / "result.json").is_file():  # kept by the first version of this harness, with its figures
        timing = {k: v for k, v in json.loads((folder / "result.json").read_text()).items() if k in _TIMING}
    else:
        print(f"halving_live: seed {seed}: two searches of {a.minutes} min side by side ...", file=sys.stderr, flush=True)
        timing = run_pair(a, seed, folder)
        write_json(done, timing)
    return measure(a, seed, folder, timing)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.halving_live", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=13.0, help="budget.time_minutes of both searches (default 13)")
    p.add_argument("--trials", type=int, default=1000, help="budget.trials: more than the time allows (default 1000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one pair per seed (default 0)")
    p.add_argument("--steps", type=int, default=180, help="proxy steps: the whole run, halving's top rung (default 180)")
    p.add_argument("--min-steps", type=int, default=60, help="halving's first rung (default 60)")
    p.add_argument("--eta", type=int, default=3, help="halving's eta (default 3)")
    p.add_argument("--max-macs", type=int, default=8_000_000, help="constraints.max_macs (default 8000000)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "nsga2", "random"], help="both searches' sampler")
    p.add_argument("--space", default="mbv2", help="search space: a shipped name or a file (default mbv2)")
    p.add_argument("--data", default="fashion_mnist", help="data set (default fashion_mnist)")
    p.add_argument("--data-root", type=Path, default=None, help="its folder (default ../shared/datasets/...)")
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--val-subset", type=int, default=1000)
    p.add_argument("--teacher", type=Path, default=TEACHER, help="a resnet20 checkpoint trained on that draw")
    p.add_argument("--work", type=Path, default=None, help="where pairs are kept (default runs/halving_live)")
    p.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    a = p.parse_args(argv)
    if a.data_root is None:
        a.data_root = SHARED_ROOTS.get(a.data)
    return a


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if not a.teacher.is_file():
        raise UserError(f"{a.teacher}: no teacher checkpoint; the fidelity panel's is restored by "
                        "`git checkout 59666ae -- reports/benchmarks/teachers/` (never commit it back)")
    settings = _settings(a)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    root = (a.work or runs_dir() / "halving_live") / key
    write_text(root / "settings.json", json.dumps(settings, indent=1) + "\n")
    a.teacher = teacher_file(a.teacher, root)
    pairs = [pair(a, seed, root) for seed in a.seeds]
    result = {"command": command_line("benchmarks.halving_live", argv),
              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "settings": settings, "pairs": pairs}
    write_result(a.out, NAME, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
