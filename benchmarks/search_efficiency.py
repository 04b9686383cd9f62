"""`python -m benchmarks.search_efficiency build|replay`: does kdnas's search spend its budget well?

**build** trains every student of a small mbv2-style space (`search_efficiency_space.yaml`, enumerated
exhaustively) once on Fashion-MNIST under the proxy's recipe, to the top rung, and scores it at each
rung on the way (`benchmarks.efficiency_table`); the table, with each student's MACs and params, goes
to reports/benchmarks/search-efficiency-table.json. Resumable: every student is cached on its own, and
`--jobs N` shares the students among N processes. **replay** runs search strategies on that table
through real Optuna samplers (random, TPE, NSGA-II, and successive halving over each), several seeds
each, and reports hypervolume against student-steps spent (`benchmarks.efficiency_replay`).
Run `python -m benchmarks.search_efficiency build --help`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

import kdnas
from benchmarks.command import command_line, run
from benchmarks.efficiency_replay import SCORES, Table, Trace, replay
from benchmarks.efficiency_report import figure, markdown, summarise
from benchmarks.efficiency_table import TableRun, cached_students, enumerate_space
from benchmarks.fidelity import _exit_with_parent, _load, _shown
from benchmarks.machine import machine_info, write_result
from kdnas.atomic import write_text
from kdnas.distill import ProxySpec, teacher_outputs
from kdnas.errors import UserError
from kdnas.space import load_space
from kdnas.teachers import TeacherSpec, build_model, freeze, state_dict_sha256

REPO = Path(kdnas.__file__).resolve().parents[1]
SPACE = REPO / "benchmarks" / "search_efficiency_space.yaml"
# the fidelity panel's Fashion-MNIST teacher (resnet20, 8 epochs on the same 5000 training images);
# not kept in the tree since: `git show 59666ae:reports/benchmarks/teachers/c22b560d8251f6df.pt > THAT_PATH`
TEACHER = REPO / "reports" / "benchmarks" / "teachers" / "c22b560d8251f6df.pt"
TABLE = REPO / "reports" / "benchmarks" / "search-efficiency-table.json"
SAMPLERS = ("random", "tpe", "nsga2")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _teacher(path: Path, data_shape: tuple[int, int, int], num_classes: int) -> tuple[torch.nn.Module, str, float]:
    """The frozen resnet20 teacher kept at `path`, its weights' sha256 and validation accuracy."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as err:
        raise UserError(f"{path}: cannot read the teacher checkpoint ({err}); the fidelity panel's is restored by "
                        "`git show 59666ae:reports/benchmarks/teachers/c22b560d8251f6df.pt > "
                        "reports/benchmarks/teachers/c22b560d8251f6df.pt`") from None
    c, h, w = data_shape
    model = build_model(TeacherSpec(name="resnet20"), num_classes=num_classes, in_channels=c, input_size=(h, w))
    try:
        model.load_state_dict(blob["state"])
    except (KeyError, RuntimeError, TypeError) as err:
        raise UserError(f"{path}: not a resnet20 teacher checkpoint for this data ({err})") from None
    model = freeze(model)
    return model, state_dict_sha256(model.state_dict()), float(blob.get("val_acc", float("nan")))


def build(a: argparse.Namespace, command: str) -> dict | None:
    """Train and score every student of the space (or, as a `--jobs` helper, as many as it claims);
    the main process writes the table to `a.out` and returns it, a helper returns None."""
    started = _dt.datetime.now(_dt.timezone.utc)
    if a.worker:
        _exit_with_parent()
    torch.set_num_threads(a.threads)
    data = _load(a.data, a.data_root, a.train_subset, a.val_subset, a.test_subset)
    teacher, sha, t_val = _teacher(a.teacher, data.input_shape, data.num_classes)
    outputs = teacher_outputs(teacher, data.train.x, teacher_id=sha, data_fingerprint=data.fingerprint)
    space = load_space(a.space)
    archs = enumerate_space(space)
    spec = ProxySpec(method="kd", steps=a.rungs[-1], threads=a.threads)
    table = TableRun(data, outputs, spec, tuple(a.rungs), a.seed)
    # each helper runs this very command (a.argv), so that it fills the cache with this table's students
    helpers = [] if a.worker else [subprocess.Popen([sys.executable, "-m", "benchmarks.search_efficiency", *a.argv,
                                                     "--worker", "--jobs", "1"]) for _ in range(a.jobs - 1)]
    try:
        # a first pass that skips what others are training, then one that waits for it
        for i, rec in enumerate(cached_students(table, archs, sha, wait=False)):
            if rec is not None:
                _log(f"[{i + 1}/{len(archs)}] {rec['arch']}: " + " ".join(
                    f"@{r} {v['val_acc']:.3f}" for r, v in rec["rungs"].items()))
        if a.worker:
            return None
        rows = list(cached_students(table, archs, sha, wait=True))
        for h in helpers:
            h.wait()
    finally:
        for h in helpers:
            if h.poll() is None:
                h.terminate()
                h.wait()
    result = {
        "benchmark": "search_efficiency_table", "command": command, "date": started.isoformat(timespec="seconds"),
        "wall_s": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(), "jobs": a.jobs,
        "machine": machine_info(),
        "data": {"name": a.data, "describe": data.describe(), "fingerprint": data.fingerprint},
        "teacher": {"name": "resnet20", "checkpoint": _shown(a.teacher), "sha256": sha, "val_acc": t_val},
        "space": _shown(a.space), "size": len(archs), "proxy": json.loads(spec.run_json()),
        "rungs": list(a.rungs), "seed": a.seed, "students": rows,
    }
    # one line: the table is data, read by the replays, not a page (write_result is for reports)
    write_text(a.out, json.dumps(result, indent=None, separators=(",", ":")) + "\n")
    return result


def replay_all(a: argparse.Namespace, command: str) -> dict:
    """Replay every strategy on the table `a.table` for `a.seeds` seeds; writes JSON, Markdown and a figure."""
    started = _dt.datetime.now(_dt.timezone.utc)
    table = Table.read(a.table, a.score)
    built = json.loads(a.table.read_text())
    meta = {k: v for k, v in built.items() if k != "students"}
    # what the students cost as each was trained (a resumed build's wall time counts only its own part)
    meta["student_seconds"] = sum(sum(r["eval_s"] for r in s["rungs"].values()) + s["rungs"][str(built["rungs"][-1])]["train_s"]
                                  for s in built["students"])
    space = load_space(REPO / meta["space"])
    budget = a.trials * table.rungs[-1]
    names = [*a.samplers, *(f"halving+{s}" for s in a.samplers)]
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:  # one replay per task: seeds share nothing
        futures = {name: [pool.submit(replay, table, space, name.removeprefix("halving+"), seed, budget,
                                      eta=a.eta if name.startswith("halving+") else None,
                                      halving_rungs=tuple(a.rungs) if a.rungs else None) for seed in range(a.seeds)]
                   for name in names}
        traces: dict[str, list[Trace]] = {}
        for name in names:
            traces[name] = [f.result() for f in futures[name]]
            _log(f"{name}: final hypervolume " + ", ".join(f"{t.at(budget):.4f}" for t in traces[name]))
    result = {"benchmark": "search_efficiency", "command": command, "date": started.isoformat(timespec="seconds"),
              "machine": machine_info(), "table_path": _shown(a.table), "table": meta, "seeds": a.seeds,
              "trials": a.trials, "jobs": a.jobs, "budget_steps": budget, "eta": a.eta,
              "halving_rungs": a.rungs or list(table.rungs), "score": a.score, "hv_scale": table.scale,
              "summary": summarise(table, traces, budget)}
    result["wall_s"] = (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    figure(result, a.out_dir / f"{a.name}.png")
    write_result(a.out_dir, a.name, result, markdown(result, a.name), echo=False)
    return result


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search_efficiency", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train and score every student of the space at each rung (the table)")
    b.add_argument("--space", type=Path, default=SPACE)
    b.add_argument("--teacher", type=Path, default=TEACHER, help="resnet20 teacher checkpoint (kdnas bench format)")
    b.add_argument("--data", default="fashion_mnist", choices=["fashion_mnist", "digits"],
                   help="data set (digits: the harness's tests)")
    b.add_argument("--data-root", type=Path, default=None, help="data folder (default: the shared copy)")
    b.add_argument("--rungs", type=_ints, default=[20, 60, 180],
                   help="proxy steps at which each student is scored, comma-separated; the last is the schedule's horizon")
    b.add_argument("--train-subset", type=int, default=5000)
    b.add_argument("--val-subset", type=int, default=1000)
    b.add_argument("--test-subset", type=int, default=2000)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--jobs", type=int, default=1, help="processes sharing the students (each with --threads threads)")
    b.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a --jobs helper: no table
    b.add_argument("--out", type=Path, default=TABLE)
    r = sub.add_parser("replay", help="replay search strategies on the table; hypervolume against student-steps")
    r.add_argument("--table", type=Path, default=TABLE)
    r.add_argument("--seeds", type=int, default=10, help="seeds per strategy (0 .. N-1)")
    r.add_argument("--trials", type=int, default=50, help="the budget: this many whole proxy runs (student-steps "
                   "= trials x the top rung)")
    r.add_argument("--eta", type=int, default=3, help="halving's reduction factor (the table's rungs must be its rungs)")
    r.add_argument("--rungs", type=_ints, default=None,
                   help="halving's rungs, some of the table's ending at its top (default: all of them)")
    r.add_argument("--score", default="val_acc", choices=SCORES, help="what the samplers and promotions rank by")
    r.add_argument("--samplers", type=lambda s: s.split(","), default=list(SAMPLERS),
                   help="comma-separated, of random, tpe, nsga2; each also under halving")
    r.add_argument("--jobs", type=int, default=1, help="processes replaying seeds side by side")
    r.add_argument("--out-dir", type=Path, default=REPO / "reports" / "benchmarks")
    r.add_argument("--name", default="search-efficiency", help="report file stem")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse `argv` and run `build` or `replay`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    a.argv = argv
    if a.command == "build":
        if a.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {a.jobs}")
        if sorted(set(a.rungs)) != a.rungs or a.rungs[0] < 1:
            raise UserError(f"--rungs must be increasing positive step counts, got {a.rungs}")
        result = build(a, command_line("benchmarks.search_efficiency", argv))
        if result is not None:
            _log(f"table of {result['size']} students written to {_shown(a.out)} in {result['wall_s']:.0f} s")
        return 0
    if min(a.seeds, a.trials, a.jobs) < 1:
        raise UserError(f"--seeds, --trials and --jobs must be at least 1, got {a.seeds}, {a.trials} and {a.jobs}")
    if unknown := set(a.samplers) - set(SAMPLERS):
        raise UserError(f"unknown sampler(s) {', '.join(sorted(unknown))}; of {', '.join(SAMPLERS)}")
    result = replay_all(a, command_line("benchmarks.search_efficiency", argv))
    print((a.out_dir / f"{a.name}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
