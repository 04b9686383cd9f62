"""The summary of `benchmarks/gpu_check.sh`: gpu-check.md and gpu-check.json in its output folder,
read from what the check's parts left in its work folder (the study's storage, the retrained run's
model card) and from benchmarks/gpu_students.py's students.json.

    python -m benchmarks.gpu_summary --out OUTDIR --work WORK --device cuda --step "a-search 0 41.2" ...
"""

from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import sys
from pathlib import Path

import optuna
import torch

from benchmarks.machine import cpu_model, write_result
from kdnas.study import records as R

TARGET_SPEEDUP = 3.0  # trials per hour with 4 students per GPU against 1 (issue 30)
TARGET_UTIL = 70.0  # mean GPU utilisation (%) with 4 students per GPU
PARITY_TOL = 1e-4  # kdnas.export.formats checks ONNX against PyTorch to this


def search_figures(work: Path) -> dict:
    """Trials of the check's study by (status, device), and its teacher's record."""
    dbs = sorted((work / "runs").glob("*.db"))
    if not dbs:
        return {"error": "no storage written"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="gpu-check", storage=f"sqlite:///{dbs[0]}")
    seen = collections.Counter(f"{t.user_attrs.get(R.STATUS)} on {(t.user_attrs.get(R.WHERE) or {}).get('device')}"
                               for t in study.trials)
    teacher = json.loads(study.user_attrs.get("teacher", "{}"))
    ok = [t for t in study.trials if t.user_attrs.get(R.STATUS) == R.STATUS_OK]
    train_s = [t.user_attrs.get(R.METRICS, {}).get("train_s") for t in ok]
    return {"trials": len(study.trials), "by_status_device": dict(seen), "teacher_val_acc": teacher.get("val_acc"),
            "teacher_device": teacher.get("device"),
            "train_s_mean": sum(train_s) / len(train_s) if train_s and None not in train_s else None}


def retrain_figures(work: Path) -> dict:
    """The retrained student's model card: test accuracy, ONNX parity, recipe."""
    cards = sorted((work / "runs").rglob("model_card.json"))
    if not cards:
        return {"error": "no model card written"}
    card = json.loads(cards[0].read_text())
    keep = ("arch", "val_acc", "onnx_max_abs_diff", "device", "epochs", "kind")
    out = {k: card[k] for k in keep if k in card}
    out["test_acc"] = card.get("test_acc_kd") if card.get("kind", "kd") == "kd" else card.get("test_acc_nokd")
    recipe = card.get("recipe") or {}
    out["amp"] = recipe.get("amp")
    out["epochs"] = out.get("epochs", recipe.get("epochs"))
    return out


def machine(device: str) -> dict:
    """The GPU (where there is one), torch and CUDA versions, and the CPU."""
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda, "cpu": cpu_model(),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def verdicts(steps: list[dict], students: dict, retrain: dict, device: str) -> dict:
    """Each part as expected or not; the issue's targets (which are measurements, not failures)."""
    runs = {r["workers_per_device"]: r for r in students.get("runs", [])}
    four = runs.get(4, {})
    parity = retrain.get("onnx_max_abs_diff")
    oom = students.get("oom", {})
    return {
        "steps_ok": all(s["rc"] == 0 for s in steps),
        "oom_passed": oom.get("passed"),
        "retrain_parity_ok": parity is not None and parity <= PARITY_TOL,
        "speedup_4_vs_1": four.get("speedup"), "speedup_target_met": (four.get("speedup") or 0) >= TARGET_SPEEDUP,
        "util_4": four.get("gpu_util_mean"),
        "util_target_met": None if four.get("gpu_util_mean") is None else four["gpu_util_mean"] >= TARGET_UTIL,
        "cuda": device.startswith("cuda"),
    }


def _fmt(v: object, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def markdown(fig: dict) -> str:
    """The summary page."""
    m, v, s, r = fig["machine"], fig["verdicts"], fig["search"], fig["retrain"]
    rehearsal = not v["cuda"]
    lines = [
        "# GPU check" + (": a CPU REHEARSAL (`--device cpu`, small numbers; no GPU figure here)" if rehearsal else ""),
        "",
        f"- command: `{fig['command']}`; {m['date']}; total wall {fig['wall_s']} s",
        f"- machine: GPU {m['gpu'] or 'none'}; torch {m['torch']} (CUDA {m['cuda']}); CPU {m['cpu']}",
        f"- result: {'every part as expected' if v['steps_ok'] and v['oom_passed'] is not False and v['retrain_parity_ok'] else 'SOME PART NOT AS EXPECTED'}",
        "",
        "| part | exit | wall s |", "|---|---:|---:|",
        *[f"| {st['name']} | {st['rc']} | {st['wall_s']} |" for st in fig["steps"]],
        "",
        "## (a) 12-trial search",
        "",
        f"- trials by status and device: {s.get('by_status_device', s.get('error'))}",
        f"- teacher on {s.get('teacher_device')}, val_acc {_fmt(s.get('teacher_val_acc'), '.3f')}; "
        f"mean proxy training {_fmt(s.get('train_s_mean'), '.2f')} s per trial",
        "",
        "## (b) students per device",
        "",
        "| workers per device | trials | ok | wall s | trials/h | x vs 1 | GPU util % | idle share | peak MiB | mean train s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in fig["students"].get("runs", []):
        lines.append(f"| {run['workers_per_device']} | {run['trials']} | {run['ok']} | {_fmt(run['wall_s'])} | "
                     f"{_fmt(run['trials_per_hour'], '.0f')} | {_fmt(run.get('speedup'), '.2f')} | "
                     f"{_fmt(run['gpu_util_mean'])} | {_fmt(run['gpu_idle_share'], '.2f')} | "
                     f"{_fmt(run['gpu_mem_peak_mib'], '.0f')} | {_fmt(run['train_s_mean'], '.2f')} |")
    oom = fig["students"].get("oom", {})
    lines += [
        "",
        f"Targets (issue 30): >= {TARGET_SPEEDUP:g}x trials/h with 4 students per GPU against 1: "
        f"{_fmt(v['speedup_4_vs_1'], '.2f')}x ({'met' if v['speedup_target_met'] else 'not met'}); "
        f"GPU utilisation >= {TARGET_UTIL:g}% with 4: {_fmt(v['util_4'])} "
        f"({'n/a' if v['util_target_met'] is None else 'met' if v['util_target_met'] else 'not met'}).",
        "",
        "## (c) out of memory",
        "",
        (f"- skipped: {oom['skipped']}" if "skipped" in oom else
         f"- absurd student in a worker capped at {oom.get('memory_fraction')} of the GPU: ok={oom.get('huge_ok')}, "
         f"reason '{oom.get('huge_reason')}'; the next student in the same worker ({oom.get('same_worker')}): "
         f"ok={oom.get('next_ok')} -> {'PASSED' if oom.get('passed') else 'FAILED'}"),
        "",
        "## (d) retrain 2 epochs (bf16 autocast on CUDA) and export",
        "",
        f"- {r.get('arch', r.get('error'))}: test_acc {_fmt(r.get('test_acc'), '.3f')}, amp {r.get('amp')}, "
        f"ONNX max |diff| {_fmt(r.get('onnx_max_abs_diff'), '.2g')} (<= {PARITY_TOL:g}: "
        f"{'yes' if v['retrain_parity_ok'] else 'NO'})",
        "",
        "Raw figures: gpu-check.json, students.json; every command's output: logs.txt.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--step", action="append", default=[], help="'NAME EXIT WALL_S' of one part")
    p.add_argument("--wall", type=int, required=True)
    p.add_argument("--command", required=True)
    args = p.parse_args(argv)
    steps = [dict(zip(("name", "rc", "wall_s"), (n, int(rc), float(w)))) for n, rc, w in (s.split() for s in args.step)]
    students_file = args.out / "students.json"
    students = json.loads(students_file.read_text()) if students_file.is_file() else {}
    fig = {"command": args.command, "wall_s": args.wall, "device": args.device, "machine": machine(args.device),
           "steps": steps, "search": search_figures(args.work), "students": students,
           "retrain": retrain_figures(args.work)}
    fig["verdicts"] = verdicts(steps, students, fig["retrain"], args.device)
    write_result(args.out, "gpu-check", fig, markdown(fig), echo=False)
    v = fig["verdicts"]
    return 0 if v["steps_ok"] and v["oom_passed"] is not False and v["retrain_parity_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
