"""`python -m benchmarks.report_build`: how long `kdnas report` takes on a study of 1,000 trials (target < 5 s).

Builds a synthetic study in a temporary SQLite storage, with the user attributes a real search
writes (architecture text that parses, MACs, params, latency, metrics, constraints, where) and a
realistic mix of trained, duplicate, infeasible, failed and running trials, then times the whole
report (open the storage from its URL, read the study, write index.html, pareto.png, the CSVs and
summary.md) `repeats` times in one process and reports the median. Each repeat opens a fresh
storage from the URL, so no Optuna cache carries over between repeats.
Run ``python -m benchmarks.report_build --help``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from kdnas.arch import Arch, Stage
from benchmarks.command import command_line, run
from benchmarks.machine import generated_by, machine_info, write_result
from kdnas.study import records as R

TARGET_S = 5.0
MAX_MACS = 20_000_000
TEACHER = {"name": "resnet20", "checkpoint": "runs/teachers/resnet20-cifar10.pt", "sha256": "0" * 64,
           "val_acc": 0.918, "macs": 40_810_000, "params": 272_474, "latency_ms": 2.41}
_OPS = [("ir", "dws", "skip"), ("ir", "basic", "dws"), ("ir", "dws", "bneck")]
_STRIDES = (1, 2, 2)
_FAIL_REASONS = ("non-finite loss (nan) at step 112", "CUDA out of memory: tried to allocate 2.00 GiB",
                 "RuntimeError: shape mismatch in stage 2")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _config(name: str, n_trials: int) -> dict:
    return {"name": name, "seed": 0, "data": {"name": "cifar10", "val_fraction": 0.1, "seed": 0},
            "teacher": {"name": "resnet20"}, "space": "search_spaces/mbv2.yaml",
            "proxy": {"method": "kd", "temperature": 4.0, "alpha": 0.9, "steps": 300, "batch_size": 128},
            "objectives": ["accuracy", "macs"], "constraints": {"max_macs": MAX_MACS},
            "latency": {"device": "cpu", "batch_size": 1, "threads": 1}, "budget": {"trials": n_trials},
            "sampler": {"name": "tpe"}, "device": "cpu", "executor": {"kind": "local"}}


_WIDTHS = (8, 12, 16, 24, 32)


def _choices() -> dict[str, list]:
    c: dict[str, list] = {"stem": [8, 16], "head": [0, 64, 128]}
    for i, ops in enumerate(_OPS):
        c.update({f"s{i}_op": list(ops), f"s{i}_kernel": [3, 5], f"s{i}_expand": [1, 3, 6],
                  f"s{i}_width": [w * (1 + i) for w in _WIDTHS], f"s{i}_depth": [1, 2, 3]})
    return c


_CHOICES = _choices()
_DISTRIBUTIONS = {k: CategoricalDistribution(v) for k, v in _CHOICES.items()}


def _random_arch(rng: np.random.Generator) -> tuple[Arch, dict]:
    p = {k: v[int(rng.integers(len(v)))] for k, v in _CHOICES.items()}
    stages = tuple(Stage.make(p[f"s{i}_op"], stride, p[f"s{i}_kernel"], p[f"s{i}_expand"], p[f"s{i}_width"],
                              p[f"s{i}_depth"]) for i, stride in enumerate(_STRIDES))
    return Arch(p["stem"], stages, p["head"]), p


def _macs_params(arch: Arch) -> tuple[int, int]:
    """A rough, monotone cost model (the report only needs plausible magnitudes)."""
    c, res = arch.stem, 32 * 32
    params = 27 * arch.stem
    macs = params * res
    for s in arch.stages:
        if s.op == "skip":
            continue
        res //= s.stride * s.stride
        k2, mid = s.kernel * s.kernel, c * s.expand
        if s.op in ("ir", "bneck"):
            per = c * mid + mid * k2 + mid * s.width
        elif s.op == "basic":
            per = (c + s.width) * k2 * s.width
        else:  # dws
            per = c * k2 + c * s.width
        params += per * s.depth
        macs += per * s.depth * res
        c = s.width
    return int(macs), int(params)


def synthetic_trials(n_trials: int, seed: int = 0) -> list[optuna.trial.FrozenTrial]:
    """`n_trials` trials like a search writes: ~8 % infeasible, ~4 % failed, ~5 % duplicate, 2 running."""
    rng = np.random.default_rng(seed)
    trials, seen = [], []
    for number in range(n_trials):
        if seen and rng.random() < 0.05:
            arch, params, acc = seen[int(rng.integers(len(seen)))]
            status = R.STATUS_DUPLICATE
        else:
            arch, params = _random_arch(rng)
            acc, status = None, R.STATUS_OK
        macs, n_params = _macs_params(arch)
        lat = 0.05 + macs / 4e8 + float(rng.normal(0, 0.01)) ** 2
        attrs = {R.ARCH: str(arch), R.MACS: macs, R.PARAMS: n_params, R.LATENCY_MS: lat,
                 R.CONSTRAINTS: {"max_macs": macs - MAX_MACS}}
        state, values = TrialState.COMPLETE, None
        if macs > MAX_MACS or (status == R.STATUS_OK and rng.random() < 0.03):
            if macs > MAX_MACS:
                attrs.update({R.STATUS: R.STATUS_INFEASIBLE, R.REASON: f"macs {macs} > max_macs {MAX_MACS}"})
                values = [0.0, float(macs)]
            else:
                attrs.update({R.STATUS: R.STATUS_FAILED, R.REASON: _FAIL_REASONS[number % len(_FAIL_REASONS)],
                              R.WALL_S: 3.2, R.METRICS: {}})
                state = TrialState.FAIL
        else:
            if acc is None:
                acc = float(np.clip(0.55 + 0.07 * math.log10(macs / 1e4) + rng.normal(0, 0.03), 0.05, 0.97))
                seen.append((arch, params, acc))
            attrs.update({R.STATUS: status, R.VAL_ACC: acc, R.WALL_S: float(20 + macs / 1e5),
                          R.METRICS: {"train_s": float(18 + macs / 1e5), "eval_s": 0.4, "final_loss": 0.8},
                          R.WHERE: {"host": "bench", "pid": 1234, "executor": "local"}})
            values = [acc, float(macs)]
        if number >= n_trials - 2 and n_trials > 10:  # a search still going: two trials running
            state, values = TrialState.RUNNING, None
            for k in (R.STATUS, R.REASON, R.VAL_ACC, R.WALL_S, R.METRICS):
                attrs.pop(k, None)
        trials.append(create_trial(state=state, values=values, params=params, distributions=_DISTRIBUTIONS,
                                   user_attrs=attrs))
    return trials


def write_synthetic_study(url: str, name: str, n_trials: int, seed: int = 0) -> optuna.Study:
    """Create study `name` in `url` with `synthetic_trials` and the study attributes a search sets."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name=name, directions=["maximize", "minimize"])
    study.set_user_attr(R.STUDY_CONFIG, json.dumps(_config(name, n_trials)))
    study.set_user_attr(R.STUDY_TEACHER, json.dumps(TEACHER))
    study.add_trials(synthetic_trials(n_trials, seed))
    return study


def _fast_sqlite(path: Path) -> optuna.storages.RDBStorage:
    # Writing 1,000 trials one commit at a time is slow with fsync; the setup is not what is timed.
    import sqlalchemy

    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")

    @sqlalchemy.event.listens_for(storage.engine, "connect")
    def _pragmas(con, _rec) -> None:  # noqa: ANN001
        con.execute("PRAGMA synchronous=OFF")

    storage.engine.dispose()
    return storage


def bench_report(n_trials: int, repeats: int, out_dir: Path, command: str, seed: int = 0,
                 work_dir: Path | None = None, keep_report: Path | None = None, cold: bool = True) -> dict:
    """Build the study, time `repeats` report builds, write report-build.{json,md} to `out_dir`."""
    from kdnas.report.build import build_report

    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        db = Path(tmp) / "bench.db"
        url = f"sqlite:///{db}"
        t = time.perf_counter()
        _log(f"writing a synthetic study of {n_trials} trials to {db} ...")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(storage=_fast_sqlite(db), study_name="bench-report",
                                    directions=["maximize", "minimize"])
        study.set_user_attr(R.STUDY_CONFIG, json.dumps(_config("bench-report", n_trials)))
        study.set_user_attr(R.STUDY_TEACHER, json.dumps(TEACHER))
        study.add_trials(synthetic_trials(n_trials, seed))
        del study
        setup_s = time.perf_counter() - t
        runs, cpu, read_s = [], [], []
        for i in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            fresh = optuna.load_study(study_name="bench-report", storage=url)  # what `kdnas report` does
            rep = build_report([fresh], Path(tmp) / "reports", source=url)
            runs.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            t = time.perf_counter()
            optuna.load_study(study_name="bench-report", storage=url).get_trials(deepcopy=False)
            read_s.append(time.perf_counter() - t)
            _log(f"  build {i + 1}/{repeats}: {runs[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU")
        cold_s = None
        if cold:  # what a user waits for: a fresh `kdnas report` process, imports included
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "kdnas.cli", "report", "bench-report", "--storage", url,
                                   "--reports", str(Path(tmp) / "cold")], capture_output=True, text=True)
            cold_s = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"kdnas report failed: {proc.stderr[-2000:]}")
            _log(f"  fresh process: {cold_s:.2f} s")
        sizes = {p.name: p.stat().st_size for p in sorted(rep.folder.iterdir())}
        if keep_report is not None:
            shutil.copytree(rep.folder, keep_report, dirs_exist_ok=True)
        counts = {k: int(v) for k, v in rep.views[0].trials["status"].value_counts().items()}
    median = statistics.median(runs)
    result = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"), "command": command,
        "n_trials": n_trials, "repeats": repeats, "median_s": median, "runs_s": runs,
        "cpu_median_s": statistics.median(cpu), "cpu_runs_s": cpu,
        "read_only_median_s": statistics.median(read_s), "fresh_process_s": cold_s, "target_s": TARGET_S, "target_met": median < TARGET_S,
        "setup_s": setup_s, "trials_by_status": counts, "front_size": len(rep.views[0].front),
        "file_bytes": sizes, "machine": machine_info(),
        "versions": {"optuna": optuna.__version__, "plotly": _version("plotly"), "matplotlib": _version("matplotlib"),
                     "pandas": _version("pandas")},
    }
    write_result(out_dir, "report-build", result, render_markdown(result), echo=False)
    return result


def _version(mod: str) -> str:
    import importlib

    return getattr(importlib.import_module(mod), "__version__", "?")


def render_markdown(r: dict) -> str:
    m = r["machine"]
    by = ", ".join(f"{n} {k}" for k, n in r["trials_by_status"].items())
    files = ", ".join(f"{k} {v / 1e6:.2f} MB" if v > 1e5 else f"{k} {v / 1e3:.1f} KB" for k, v in r["file_bytes"].items())
    return "\n".join([
        f"# Report build time: a study of {r['n_trials']:,} trials",
        "",
        *generated_by(r["date"], r["command"]),
        "",
        f"**{r['median_s']:.2f} s** median over {r['repeats']} builds in one process (runs: "
        + ", ".join(f"{x:.2f}" for x in r["runs_s"]) + f" s); target < {r['target_s']:.0f} s: "
        f"**{'met' if r['target_met'] else 'NOT met'}**. CPU time of the process per build: "
        f"{r['cpu_median_s']:.2f} s median (less sensitive than wall time to other work on a shared machine; "
        "see the load average below).",
        "",
        "One build = what `kdnas report STUDY` does after parsing its arguments: open the SQLite storage",
        "from its URL (a fresh storage object each time, so no Optuna cache carries over), read every trial",
        "once, and write `index.html` (Plotly inlined), `pareto.png` (matplotlib, 200 dpi), `pareto.csv`,",
        "`trials.csv`, `summary.md` and `config.json`. The first build also pays for importing plotly and",
        f"matplotlib. Reading the trials alone takes {r['read_only_median_s']:.2f} s (median)."
        + ("" if r.get("fresh_process_s") is None else
           f" The same report as a fresh `kdnas report` process (Python start-up and imports included) took "
           f"{r['fresh_process_s']:.2f} s."),
        "",
        f"- study: synthetic, {by}; front {r['front_size']} architectures; written in {r['setup_s']:.0f} s (not timed)",
        f"- files: {files}",
        f"- versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        f"- CPU: {m['cpu_model']}; nproc {m['nproc']}; Python {m['python']}, torch {m['torch']}, {m['platform']}",
        f"- load average at start: {m['loadavg_at_start']}",
        "",
    ])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report_build", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="reports/benchmarks")
    p.add_argument("--keep-report", help="copy the built report folder here (to look at it)")
    p.add_argument("--no-fresh-process", action="store_true", help="skip timing a fresh `kdnas report` process")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the benchmark, print the Markdown result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    command = command_line("benchmarks.report_build", argv)
    out = Path(a.out_dir)
    bench_report(a.trials, a.repeats, out, command, seed=a.seed,
                 keep_report=Path(a.keep_report) if a.keep_report else None, cold=not a.no_fresh_process)
    print((out / "report-build.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
