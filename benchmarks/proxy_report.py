"""Writing a proxy-cost result as JSON (everything) and Markdown (the table a reader wants)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.machine import generated_by, write_result


def _s(x: float) -> str:
    return f"{x:.2f}"


def _mmacs(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def render_markdown(r: dict) -> str:
    """The report page: what was measured, the table, the cache's cost, the machine, the command."""
    m, st, ov, ca, t, d = r["machine"], r["settings"], r["overall"], r["cache"], r["teacher"], r["data"]
    teacher_state = (f"trained checkpoint `{t['checkpoint']}`" if t["trained"]
                     else "untrained (random init, seeded): the timings hold, the accuracies mean nothing")
    lines = [
        "# Proxy cost: a kdnas trial vs. training the student alone vs. naive KD",
        "",
        *generated_by(r["date"], r["command"]),
        "Per student, in one process and interleaved (each repeat runs every student in every mode, the",
        "mode order rotating per repeat), with the same steps, batch size, seed and data:",
        "",
        "- **A** student only: `run_proxy(method=\"ce\", teacher=None)`",
        "- **B** kdnas trial: `run_proxy(method=\"kd\")` with cached `TeacherOutputs` (cache load counted once per study, below)",
        "- **C** naive KD: the same loop running the frozen teacher (eval, `no_grad`) on every batch",
        "",
        f"Times are the median wall seconds of one run (training loop + validation eval) over {st['repeats']} repeats.",
        "",
        f"- data: {d['describe']}{' — ' + d['note'] if d['note'] else ''}",
        f"- teacher: {t['name']}, {_mmacs(t['macs'])} MACs, {t['params'] / 1e6:.3f} M params, {teacher_state}",
        f"- budget: {st['steps']} steps x batch {st['batch_size']}, {st['threads']} torch thread(s), seed {st['seed']}",
        "",
        "| student (arch) | MACs | A s | B s | C s | B/A | C/B | saved s/trial | trials to amortise cache |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["students"]:
        md = s["median_s"]
        lines.append(
            f"| `{s['arch']}` | {_mmacs(s['macs'])} | {_s(md['A'])} | {_s(md['B'])} | {_s(md['C'])} | "
            f"{s['ratio_b_over_a']:.3f} | {s['ratio_c_over_b']:.2f} | {_s(s['saving_s_per_trial'])} | "
            f"{s['trials_to_amortise_cache']} |"
        )
    sm = ov["sum_median_s"]
    lines += [
        f"| **all (sum of medians)** | | {_s(sm['A'])} | {_s(sm['B'])} | {_s(sm['C'])} | "
        f"**{ov['ratio_b_over_a']:.3f}** | **{ov['ratio_c_over_b']:.2f}** | {_s(ov['mean_saving_s_per_trial'])} (mean) | "
        f"{ov['trials_to_amortise_cache']} |",
        "",
        f"B/A target <= {ov['target_b_over_a']}: **{'met' if ov['target_met'] else 'NOT met'}** overall "
        f"(worst student {ov['ratio_b_over_a_worst']:.3f}).",
        "",
        "## The teacher cache",
        "",
        f"- one-off compute (teacher pass over the {d['n_train']}-sample train split + write): "
        f"{_s(ca['compute_s'])} s (median of {len(ca['compute_runs_s'])})",
        f"- load once per study: {ca['load_s'] * 1000:.1f} ms; size {ca['bytes'] / 1e6:.2f} MB",
        f"- it pays for itself after {ov['trials_to_amortise_cache']} trial(s) "
        f"(compute cost / mean time saved per trial); a study runs tens to hundreds.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}; nproc {m['nproc']} (os.cpu_count {m['cpu_count']}); torch threads {m['torch_threads']}",
        f"- torch {m['torch']}, Python {m['python']}, {m['platform']}",
        f"- load average at start: {m['loadavg_at_start']} (a shared machine: hence interleaving and medians)",
        f"- total wall time of the benchmark: {r['wall_s']:.0f} s",
        "",
        "Every run's figures (times, accuracies, losses) are in `proxy-cost.json`.",
        "",
    ]
    return "\n".join(lines)


def write_reports(result: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``proxy-cost.json`` and ``proxy-cost.md`` under `out_dir`; returns their paths."""
    write_result(out_dir, "proxy-cost", result, render_markdown(result), echo=False)
    return out_dir / "proxy-cost.json", out_dir / "proxy-cost.md"
