"""`python -m benchmarks.blockwise_demo`: the block-wise demo search timed end to end, cold and warm.

Runs a `proxy.method: blockwise` study (by default `studies/demo-digits-blockwise.yaml`) twice in
a fresh runs folder: first with nothing cached (teacher training, block table, scoring the space,
confirming the picks with short KD), then as a second study on the same folder, where the teacher
and the block table come from the cache. Target (issue 6): with the table filled, at least 10,000
students scored in under a minute, and a confirmed front stored like any other study's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.command import command_line, run
from benchmarks.machine import generated_by, machine_info, write_result

TARGET_STUDENTS = 10_000
TARGET_SCORE_S = 60.0
DEFAULT_STUDY = Path(__file__).resolve().parents[1] / "studies" / "demo-digits-blockwise.yaml"


def _run(study_file: Path, name: str, runs: Path) -> dict:
    """One search of `study_file` under the name `name`, with its caches and storage in `runs`."""
    from kdnas.execute import make_executor
    from kdnas.study import records as R
    from kdnas.study.blockwise import STUDY_BLOCKWISE
    from kdnas.study.config import load_study_config
    from kdnas.study.front import front_trials
    from kdnas.study.runner import run_search
    from kdnas.study.setup import prepare
    from kdnas.study.storage import load_existing

    os.environ["KDNAS_RUNS"] = str(runs)  # teacher, block table and storage all go under `runs`
    cfg = load_study_config(study_file)
    cfg = cfg.model_copy(update={"name": name, "storage": f"sqlite:///{runs / 'bench.db'}"})
    t0 = time.perf_counter()
    setup = prepare(cfg, verbose=False)
    t_prepare = time.perf_counter() - t0
    summary = run_search(setup, make_executor(cfg.executor), progress=False)
    t_search = time.perf_counter() - t0 - t_prepare
    study = load_existing(cfg.storage_url, cfg.name)
    figures = json.loads(study.user_attrs[STUDY_BLOCKWISE])
    front = sorted(front_trials(study), key=lambda t: t.user_attrs[R.MACS])
    confirm_s = sum(t.user_attrs.get(R.WALL_S, 0.0) for t in study.get_trials(deepcopy=False))
    return {
        "name": name, "prepare_s": t_prepare, "search_s": t_search, "total_s": t_prepare + t_search,
        "complete": summary.trained, "blockwise": figures, "confirm_wall_s_sum": confirm_s,
        "teacher_val_acc": setup.teacher_info.get("val_acc"),
        "front": [{"trial": t.number, "arch": t.user_attrs[R.ARCH], "val_acc": t.user_attrs[R.VAL_ACC],
                   "macs": t.user_attrs[R.MACS], "blockwise_loss": t.user_attrs.get("blockwise_loss")} for t in front],
    }


def bench_blockwise(study_file: Path, out_dir: Path, command: str) -> dict:
    """Run the cold and the warm search; write blockwise-demo.json/.md; return the result."""
    info = machine_info()
    prev = os.environ.get("KDNAS_RUNS")
    try:
        with tempfile.TemporaryDirectory(prefix="kdnas-bench-blockwise-") as d:
            runs = Path(d)
            cold = _run(study_file, "blockwise-cold", runs)
            warm = _run(study_file, "blockwise-warm", runs)
    finally:
        if prev is None:
            os.environ.pop("KDNAS_RUNS", None)
        else:
            os.environ["KDNAS_RUNS"] = prev
    bw = warm["blockwise"]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "command": command, "study_file": str(study_file),
        "machine": info, "cold": cold, "warm": warm,
        "students_met": bw["students_scored"] >= TARGET_STUDENTS,
        "time_met": bw["score_s"] < TARGET_SCORE_S,
        "front_written": len(warm["front"]) > 0,
    }
    write_result(out_dir, "blockwise-demo", result, _markdown(result), echo=False)
    return result


def _row(label: str, r: dict) -> str:
    b = r["blockwise"]
    return (f"| {label} | {r['prepare_s']:.1f} | {b['blocks']} ({b['blocks_trained']} trained, {b['blocks_cached']} cached) | "
            f"{b['table_wall_s']:.1f} | {b['students_scored']:,} | {b['score_s'] * 1000:.0f} | {b['students_per_s']:,.0f} | "
            f"{b['picked']} | {r['confirm_wall_s_sum']:.1f} | {r['total_s']:.1f} |")


def _markdown(r: dict) -> str:
    m, cold, warm = r["machine"], r["cold"], r["warm"]
    bw = warm["blockwise"]
    front = "\n".join(f"| {f['trial']} | `{f['arch']}` | {f['macs'] / 1e6:.3f} M | {f['blockwise_loss']:.4f} | "
                      f"{100 * f['val_acc']:.2f} |" for f in warm["front"])
    lines = [
        "# Block-wise demo search, timed", "", *generated_by(r["date"], r["command"]),
        f"Study: `{Path(r['study_file']).name}` (teacher val accuracy {100 * (cold['teacher_val_acc'] or 0):.2f}%). "
        f"Machine: {m['cpu_model']}, {m['nproc']} usable CPUs, torch {m['torch']}, load average at the start "
        f"{m['loadavg_at_start']}.", "",
        "Cold: a fresh runs folder (the teacher is trained, every block of the table is trained). Warm: a second "
        "study in the same folder (teacher and block table from the cache). Times in seconds.", "",
        "| run | prepare (data, teacher, teacher outputs) | blocks | table s | students scored | scoring ms | "
        "students/s | confirmed with KD | KD confirmation s (sum) | total s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        _row("cold", cold), _row("warm", warm), "",
        f"- Students scored from the filled table: **{bw['students_scored']:,} in {bw['score_s']:.2f} s** "
        f"(target at least {TARGET_STUDENTS:,} in under {TARGET_SCORE_S:.0f} s: "
        f"{'met' if r['students_met'] and r['time_met'] else 'NOT met'}); {bw['students_feasible']:,} within the "
        f"constraints, first (block-wise loss, MACs) front of {bw['front_size']}; the space holds "
        f"{bw['space_size']:,} students.",
        f"- The confirmed front (end-to-end KD proxy, written to the study like any other):", "",
        "| trial | architecture | MACs | block-wise loss | KD proxy val % |", "| ---: | --- | ---: | ---: | ---: |",
        front, "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.blockwise_demo", description=__doc__.splitlines()[0])
    p.add_argument("--study", type=Path, default=DEFAULT_STUDY, help="a proxy.method: blockwise study file")
    p.add_argument("--out-dir", type=Path, default=Path("reports/benchmarks"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print its Markdown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    bench_blockwise(a.study.resolve(), a.out_dir, command_line("benchmarks.blockwise_demo", argv))
    print((a.out_dir / "blockwise-demo.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
