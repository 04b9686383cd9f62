"""`summary.md`: the headline figures and the front as Markdown, to paste into a pull request or paper."""

from __future__ import annotations

from kdnas.report.rungs import rung_agreement
from kdnas.report.style import fmt_acc, fmt_count, fmt_ms
from kdnas.report.view import HV_DOC, Headline, StudyView, rank_correlation

def _study_md(v: StudyView, h: Headline) -> list[str]:
    budget = f" (budget: {v.budget} trained)" if v.budget else ""
    lines = [f"## {v.name}", "", f"- trials: {h.counts.line()}{budget}"]
    if h.n_trials == 0:
        lines.append("- the study has no trials yet")
    elif h.by_status.get("failed", 0) == h.n_trials:
        lines.append("- every trial failed: there is no front")
    if h.best:
        b = h.best
        lines.append(f"- best accuracy: {fmt_acc(b['val_acc'])} (trial {b['trial']}, {fmt_count(b['macs'])} MACs, "
                     f"`{b['arch']}`)")
    if h.cheap_near_best:
        n = h.cheap_near_best
        lines.append(f"- fewest MACs within 1 point of the best: {fmt_count(n['macs'])} at {fmt_acc(n['val_acc'])} "
                     f"(trial {n['trial']}, `{n['arch']}`)")
    te = v.teacher
    if te:
        lines.append(f"- teacher {te.get('name')}: {fmt_acc(te.get('val_acc'))}, {fmt_count(te.get('macs'))} MACs, "
                     f"{fmt_count(te.get('params'))} params, latency {fmt_ms(te.get('latency_ms'))}")
    if v.has_latency and v.latency_setting:
        lines.append(f"- latency: ms per batch, {v.latency_setting}")
    lines.append(f"- hypervolume: {h.hypervolume:.4f}" if h.hypervolume is not None else
                 "- hypervolume: none (the trials measure no accuracy; the front is ranked by the similarity)")
    rc = rank_correlation(v)
    if rc:
        lines.append(f"- proxy {rc.axis.short} vs final test accuracy (n={rc.n}): Kendall τ {rc.kendall_tau:.3f}, "
                     f"Spearman ρ {rc.spearman_rho:.3f}")
    lines += [f"- rungs {pair.line()}" for pair in rung_agreement(v.trials)]
    lines += ["", f"Pareto front ({'/'.join(v.objectives)}), cheapest first:", ""]
    if v.front.empty:
        lines += ["(empty)", ""]
        return lines
    lat, ax = v.front["latency_ms"].notna().any(), v.axis
    own = not ax.is_accuracy  # what ranked the study gets a column of its own
    if own:
        where = "proxy.method `similarity`" if not ax.is_loss else f"proxy.advanced.score `{ax.kind}`"
        lines += [f"Ranked by {where}: {ax.title}.", ""]
    lines.append("| trial |" + (f" {ax.short} |" if own else "") + " accuracy | MACs | params |"
                 + (" latency |" if lat else "") + " architecture |")
    lines.append("|---:|" + ("---:|" if own else "") + "---:|---:|---:|" + ("---:|" if lat else "") + "---|")
    for r in v.front.itertuples():
        score = f" {ax.fmt(r.score)} |" if own else ""
        lines.append(f"| {r.trial} |{score} {fmt_acc(r.val_acc)} | {fmt_count(r.macs)} | {fmt_count(r.params)} |"
                     + (f" {fmt_ms(r.latency_ms)} |" if lat else "") + f" `{r.arch}` |")
    lines.append("")
    return lines


def render_summary(views: list[StudyView], headlines: list[Headline], hv_scale: float | None) -> str:
    title = " + ".join(v.name for v in views)
    lines = [f"# kdnas report: {title}", ""]
    for v, h in zip(views, headlines):
        lines += _study_md(v, h)
    scale = "" if hv_scale is None else f" (here M = {fmt_count(hv_scale)} MACs)"
    if any(h.hypervolume is not None for h in headlines):
        lines += [f"Hypervolume: {HV_DOC}{scale}.", ""]
    return "\n".join(lines)
