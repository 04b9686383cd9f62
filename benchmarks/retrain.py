"""`python -m benchmarks.retrain`: how much distillation buys, and how well the proxy ranked, after full training.

One run of this benchmark:

1. runs (or resumes) the study's search up to its budget: its Pareto front is what a user would
   retrain;
2. picks ``--members`` students of the front (topped up from the next non-dominated layer when the
   front is smaller) and one **hand-designed** student: a uniform MobileNetV2-style rule (every
   stage the same op, kernel and expansion; widths and depths at a fixed fraction of each stage's
   choices) whose MACs are closest to the chosen members' median;
3. retrains every student from scratch with the study's ``retrain`` recipe, with KD against the
   study's teacher and on labels only, for each ``--seeds`` seed, through the same trainer as
   `kdnas retrain` (runs resume from their last epoch, so an interrupted benchmark continues);
4. writes mean ± std test accuracy per student and kind, the distillation gain, and the Kendall tau
   / Spearman rho between proxy score and final KD test accuracy of the front members, to
   ``reports/benchmarks/retrain-<study>.{json,md}``, with the exact command and the sizes.

The front members' results are also recorded in the study (as `kdnas retrain` does), so
`kdnas report` shows proxy against final accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial

from kdnas.arch import Arch, Stage
from benchmarks.command import command_line, run
from benchmarks.machine import generated_by, machine_info, write_result
from kdnas.cost import count_macs_params
from kdnas.errors import UserError
from kdnas.execute import make_executor
from kdnas.pareto import non_dominated_sort
from kdnas.paths import runs_dir
from kdnas.retrain.rank import rank_agreement
from kdnas.retrain.records import record_run
from kdnas.retrain.run import RunResult, train_run
from kdnas.retrain.study import one_per_arch, recipe_of
from kdnas.study.front import is_trained
from kdnas.space import SearchSpace, build_student, load_space
from kdnas.study import records as R
from kdnas.study.runner import run_search
from kdnas.study.search import load_and_prepare

HAND_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _pick(options: list[int], frac: float) -> int:
    return sorted(options)[round(frac * (len(options) - 1))]


def hand_designs(space: SearchSpace) -> list[Arch]:
    """Uniform rule-based students of the space: one op, the smallest kernel and one expansion
    everywhere, widths and depths at one fraction of each stage's choices, optionally every
    skippable stage skipped (what a person writes without a search)."""
    designs = []
    ops = [op for op in ("ir", "basic", "dws", "bneck") if all(op in sc.op for sc in space.stages)]
    expands = sorted({e for sc in space.stages for e in sc.expand})

    def nearest(options: list[int], target: int) -> int:
        return min(options, key=lambda o: (abs(o - target), o))

    for op in ops:
        for e in expands:  # each stage takes the expansion it offers nearest to e
            for wf in HAND_FRACTIONS:
                for df in (0.0, 0.5):
                    for lean in (False, True):  # lean: every stage that may be skipped is
                        stages = tuple(
                            Stage.make("skip", sc.stride, 0, 0, 0, 0) if lean and "skip" in sc.op
                            else Stage.make(op, sc.stride, min(sc.kernel), nearest(sc.expand, e),
                                            _pick(sc.width, wf), _pick(sc.depth, df))
                            for sc in space.stages)
                        designs.append(Arch(_pick(space.stem, wf), stages, _pick(space.head, wf)))
    return list(dict.fromkeys(a for a in designs if space.contains(a)))


def choose_members(study: optuna.Study, n: int) -> list[FrozenTrial]:
    """`n` trained, feasible, distinct students: the front first, then the next non-dominated layers."""
    uniq = one_per_arch([t for t in study.get_trials(deepcopy=False) if is_trained(t)])
    if not uniq:
        return []
    # minimise (-accuracy, MACs): layer 0 is the front
    pts = np.array([[-t.user_attrs[R.VAL_ACC], t.user_attrs[R.MACS]] for t in uniq], dtype=float)
    layer = non_dominated_sort(pts)
    order = sorted(range(len(uniq)), key=lambda i: (layer[i], uniq[i].user_attrs[R.MACS]))
    return [uniq[i] for i in order[:n]]


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def bench_retrain(study_path: Path, members: int, seeds: list[int], epochs: int | None, hand: str | None,
                  out_dir: Path, command: str, device: str | None = None, *, alpha: float | None = None,
                  temperature: float | None = None, with_hand: bool = True, tag: str = "") -> dict:
    """Run the benchmark (see the module docstring) and write its JSON and Markdown."""
    t_start, machine = time.monotonic(), machine_info()
    setup = load_and_prepare(study_path)
    cfg = setup.cfg
    t0 = time.monotonic()
    summary = run_search(setup, make_executor(cfg.executor), progress=False)
    search_s = time.monotonic() - t0
    study = optuna.load_study(study_name=cfg.name, storage=cfg.storage_url)
    chosen = choose_members(study, members)
    if not chosen:
        raise UserError(f"study '{cfg.name}' has no trained, feasible student to retrain (all infeasible or failed?)")
    if len(chosen) < members:
        print(f"only {len(chosen)} trained students in the study; retraining those", file=sys.stderr)
    data = setup.data
    c, k = data.input_shape[0], data.num_classes
    macs_of = {t.user_attrs[R.ARCH]: int(t.user_attrs[R.MACS]) for t in chosen}
    if hand is None:
        target = statistics.median(macs_of.values())
        limit = cfg.constraints.max_macs or float("inf")
        designs = [(a, count_macs_params(build_student(a, c, k), data.input_shape)[0]) for a in hand_designs(setup.space)]
        designs = [(a, m) for a, m in designs if m <= limit and str(a) not in macs_of]
        hand_arch, hand_macs = min(designs, key=lambda am: abs(am[1] - target))
        hand = str(hand_arch)
    else:
        hand_macs = count_macs_params(build_student(Arch.from_str(hand), c, k), data.input_shape)[0]
    recipe = recipe_of(cfg, epochs=epochs)
    kd_update = {k: v for k, v in {"alpha": alpha, "temperature": temperature}.items() if v is not None}
    run_group = f"e{recipe.epochs}"
    if kd_update:  # another KD setting: other run folders (a run only resumes its own recipe)
        recipe = recipe.model_copy(update={"distill": recipe.distill.model_copy(update=kd_update)})
        run_group += f"-a{recipe.distill.alpha:g}-T{recipe.distill.temperature:g}"
    device = device or setup.ctx.device
    teacher = setup.teacher.model
    students = [(f"trial {t.number}", t.user_attrs[R.ARCH], t) for t in chosen] + ([("hand", hand, None)] if with_hand else [])
    rows = []
    for label, arch, trial in students:
        runs: dict[str, list[RunResult]] = {"kd": [], "nokd": []}
        for seed in seeds:
            for kd in (True, False):
                r = recipe.model_copy(update={"seed": seed})
                who = f"t{trial.number}" if trial is not None else "hand"
                folder = runs_dir() / "bench-retrain" / cfg.name / run_group / f"{who}-{'kd' if kd else 'nokd'}-s{seed}"
                print(f"[{label}] {'kd' if kd else 'nokd'} seed {seed}: {arch}", file=sys.stderr, flush=True)
                torch.manual_seed(seed)
                student = build_student(Arch.from_str(arch), c, k)
                res = train_run(student, data, r, folder, arch=arch, seed=seed, teacher=teacher if kd else None,
                                teacher_features=cfg.teacher.feature_modules, device=device, verbose=False)
                runs["kd" if kd else "nokd"].append(res)
                if trial is not None:
                    record_run(study, trial.number, res.as_dict())
        kd_m, kd_s = _mean_std([x.test_acc for x in runs["kd"]])
        no_m, no_s = _mean_std([x.test_acc for x in runs["nokd"]])
        gains = [a.test_acc - b.test_acc for a, b in zip(runs["kd"], runs["nokd"])]
        rows.append({
            "label": label, "arch": arch, "trial": trial.number if trial is not None else None,
            "macs": macs_of.get(arch, hand_macs), "proxy_val_acc": trial.user_attrs[R.VAL_ACC] if trial else None,
            "kd_test_mean": kd_m, "kd_test_std": kd_s, "nokd_test_mean": no_m, "nokd_test_std": no_s,
            "gain_mean": statistics.fmean(gains), "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0,
            "kd_test": [x.test_acc for x in runs["kd"]], "nokd_test": [x.test_acc for x in runs["nokd"]],
            "train_s": sum(x.train_s for x in runs["kd"] + runs["nokd"]),
        })
    front_rows = [r for r in rows if r["trial"] is not None]
    agree = rank_agreement([r["proxy_val_acc"] for r in front_rows], [r["kd_test_mean"] for r in front_rows])
    teacher_test = float(_teacher_test(teacher, data))
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "study": cfg.name, "study_file": str(study_path),
        "data": {"describe": data.describe(), "train": len(data.train.y), "val": len(data.val.y), "test": len(data.test.y)},
        "teacher": {**setup.teacher_info, "test_acc": teacher_test},
        "search": {"complete": summary.trained, "evaluated_now": summary.evaluated_now, "seconds": search_s},
        "recipe": recipe.model_dump(mode="json"), "seeds": seeds,
        "students": rows,
        "mean_gain_all": statistics.fmean(r["gain_mean"] for r in rows),
        "mean_gain_front": statistics.fmean(r["gain_mean"] for r in front_rows) if front_rows else None,
        "kendall_tau": agree.kendall_tau, "spearman_rho": agree.spearman_rho, "rank_n": agree.n,
        "kendall_p": agree.kendall_p,
        "machine": machine, "total_s": time.monotonic() - t_start,
    }
    stem = f"retrain-{cfg.name}{'-' + tag if tag else ''}"
    result["report"] = str(out_dir / f"{stem}.md")
    write_result(out_dir, stem, result, render_markdown(result), echo=False)
    return result


def _teacher_test(teacher: torch.nn.Module, data) -> float:
    from kdnas.distill.evaluate import accuracy

    return accuracy(teacher, data.test.x, data.test.y)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def render_markdown(r: dict) -> str:
    """The table a reader wants, with the sizes and the command."""
    rc, t = r["recipe"], r["teacher"]
    lines = [
        f"# Retraining the front of `{r['study']}`: distillation gain and proxy fidelity",
        "",
        *generated_by(r["date"], r["command"]),
        f"- data: {r['data']['describe']}",
        f"- teacher: {t['name']}, {t['macs'] / 1e6:.2f} M MACs, val {_pct(t['val_acc'])} %, test {_pct(t['test_acc'])} %",
        f"- recipe (every student, KD and labels-only alike): {rc['epochs']} epochs, batch {rc['batch_size']}, "
        f"SGD lr {rc['lr']} momentum {rc['momentum']} nesterov {rc['nesterov']}, wd {rc['weight_decay']}, "
        f"{rc['schedule']} schedule, warm-up {rc['warmup_epochs']} epoch(s), augment {rc['augment']} "
        f"(crop pad {rc['crop_pad']}); KD: T {rc['distill']['temperature']}, alpha {rc['distill']['alpha']}",
        f"- seeds: {', '.join(map(str, r['seeds']))}; test accuracy in %, mean ± std over seeds",
        "",
        "| student | MACs | proxy val | KD test | labels-only test | KD gain (points) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in r["students"]:
        proxy = _pct(s["proxy_val_acc"]) if s["proxy_val_acc"] is not None else "—"
        lines.append(
            f"| {s['label']} `{s['arch']}` | {s['macs'] / 1e6:.2f} M | {proxy} | "
            f"{_pct(s['kd_test_mean'])} ± {_pct(s['kd_test_std'])} | {_pct(s['nokd_test_mean'])} ± {_pct(s['nokd_test_std'])} | "
            f"{100 * s['gain_mean']:+.2f} ± {100 * s['gain_std']:.2f} |"
        )
    tau = r["kendall_tau"]
    lines += [
        "",
        f"- **mean distillation gain**: {100 * r['mean_gain_all']:+.2f} points over all {len(r['students'])} students"
        + (f", {100 * r['mean_gain_front']:+.2f} over the front members" if r["mean_gain_front"] is not None else ""),
        f"- **proxy-to-final rank agreement** over the {r['rank_n']} front members (proxy val accuracy vs mean KD test "
        f"accuracy): Kendall tau {tau:.3f} (p {r['kendall_p']:.3f}), Spearman rho {r['spearman_rho']:.3f}",
        f"- search: {r['search']['seconds']:.0f} s (0 when the study was already finished); total {r['total_s'] / 60:.1f} min",
        f"- machine: {r['machine']['cpu_model']}, nproc {r['machine']['nproc']}, torch {r['machine']['torch']}, "
        f"load average at the start {r['machine']['loadavg_at_start']}",
        "",
        "Every run's figures are in the JSON next to this file; the runs themselves under `runs/bench-retrain/`.",
        "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.retrain", description=__doc__.split("\n")[0])
    p.add_argument("--study", type=Path, default=Path("benchmarks/studies/fmnist-kd.yaml"))
    p.add_argument("--members", type=int, default=4, help="front members to retrain (>= 4 for the issue)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, help="override the study's retrain.epochs")
    p.add_argument("--alpha", type=float, help="override retrain.distill.alpha (KD weight)")
    p.add_argument("--temperature", type=float, help="override retrain.distill.temperature")
    p.add_argument("--no-hand", action="store_true", help="front members only (a quicker diagnosis)")
    p.add_argument("--tag", default="", help="suffix of the report's name: retrain-<study>-<tag>.md")
    p.add_argument("--hand", help="the hand-designed student's architecture (default: the uniform design nearest in MACs)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: the study's device)")
    p.add_argument("--out-dir", type=Path, default=Path("reports/benchmarks"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: run the benchmark and print its Markdown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    command = command_line("benchmarks.retrain", argv)
    r = bench_retrain(a.study, a.members, a.seeds, a.epochs, a.hand, a.out_dir, command, a.device,
                      alpha=a.alpha, temperature=a.temperature, with_hand=not a.no_hand, tag=a.tag)
    print(Path(r["report"]).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
