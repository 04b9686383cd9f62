"""`index.html`: one self-contained page (Plotly's JavaScript inlined, no address outside the file)."""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import datetime

import pandas as pd

from kdnas.report.figures import correlation_figure, cost_columns, hypervolume_figure, pareto_figure
from kdnas.report.rungs import RUNGS_DOC, rung_agreement
from kdnas.report.score import common_axis
from kdnas.report.style import COST_LABELS, fmt_acc, fmt_cost, fmt_count, fmt_ms, missing, study_colour
from kdnas.report.view import (FINAL_TEST_ACC, HV_DOC, STAGE_FIELDS, Headline, StudyView, block_usage,
                               rank_correlation)

_E = html.escape
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "png", "scale": 2}}

_CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#ffffff; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color:var(--ink);
       background:var(--bg); line-height:1.45; }
header { background:#0f172a; color:#f8fafc; padding:22px 32px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:650; }
header p { margin:0; color:#cbd5e1; font-size:13px; }
main { max-width:1320px; margin:0 auto; padding:20px 32px 60px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 22px;
          margin:18px 0; }
h2 { font-size:17px; margin:0 0 10px; }
h3 { font-size:14px; margin:14px 0 6px; }
.note { color:var(--muted); font-size:12.5px; margin:4px 0 8px; }
.banner { border-left:4px solid #D62728; background:#fef2f2; padding:12px 16px; border-radius:6px;
          margin:14px 0; font-size:15px; }
.banner.info { border-color:var(--accent); background:#eff6ff; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 12px; background:#fcfcfd; }
.card .k { font-size:11.5px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
.card .v { font-size:20px; font-weight:650; margin-top:2px; }
.card .s { font-size:12px; color:var(--muted); overflow-wrap:anywhere; }
.study-tag { display:inline-block; width:11px; height:11px; border-radius:3px; margin-right:6px;
             vertical-align:baseline; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:#f1f5f9; position:sticky; top:0; font-weight:600; }
td.l, th.l { text-align:left; }
td.arch { font-family: ui-monospace, 'SFMono-Regular', Menlo, monospace; font-size:12px; text-align:left;
          white-space:normal; word-break:break-all; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th::after { content:' \\2195'; color:#94a3b8; font-size:11px; }
table.sortable th[aria-sort=ascending]::after { content:' \\2191'; color:var(--ink); }
table.sortable th[aria-sort=descending]::after { content:' \\2193'; color:var(--ink); }
tbody tr:hover { background:#f8fafc; }
.scroll { max-height:520px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
.chip { display:inline-block; padding:1px 7px; margin:1px 3px 1px 0; border-radius:10px; background:#eef2ff;
        font-size:12px; }
.chip b { font-weight:650; }
.blocks td, .blocks th { text-align:left; white-space:normal; }
table.compact { width:auto; min-width:50%; }
pre { max-height:480px; background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px; overflow:auto; font-size:12px; }
details summary { cursor:pointer; font-weight:600; margin:6px 0; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:14px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns: 1fr; } }
"""

# Sorting on header click: numbers by data-v, text otherwise; empty cells always last.
_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener('click', function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(r) { var c = r.cells[col]; return c.hasAttribute('data-v') ? c.getAttribute('data-v') : c.textContent.trim(); }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === '' || y === '') { return x === y ? 0 : (x === '' ? 1 : -1); }
        var nx = Number(x), ny = Number(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _num(v: object, text: str) -> str:
    """A numeric cell that sorts by its raw value."""
    raw = "" if missing(v) else repr(float(v))  # type: ignore[arg-type]
    return f'<td data-v="{raw}">{_E(text)}</td>'


def _tag(i: int, multi: bool) -> str:
    return f'<span class="study-tag" style="background:{study_colour(i)}"></span>' if multi else ""


def _card(k: str, v: str, s: str = "") -> str:
    return f'<div class="card"><div class="k">{_E(k)}</div><div class="v">{_E(v)}</div><div class="s">{_E(s)}</div></div>'


def _headline_cards(v: StudyView, h: Headline) -> str:
    c = h.counts
    te = v.teacher or {}
    cards = [_card("trained", f"{c.trained} / {v.budget}" if v.budget else str(c.trained), c.line())]
    if h.best:
        cards.append(_card("best accuracy", fmt_acc(h.best["val_acc"]),
                           f"trial {h.best['trial']} · {fmt_count(h.best['macs'])} MACs"))
    if h.cheap_near_best:
        n = h.cheap_near_best
        ratio = f" · {te['macs'] / n['macs']:.1f}x fewer than the teacher" if te.get("macs") else ""
        cards.append(_card("fewest MACs within 1 pt of best", fmt_count(n["macs"]),
                           f"trial {n['trial']} · {fmt_acc(n['val_acc'])}{ratio}"))
    cards.append(_card("front", f"{len(v.front)} students", "distinct architectures, none dominated"))
    if te:
        cards.append(_card(f"teacher {te.get('name', '')}", fmt_acc(te.get("val_acc")),
                           f"{fmt_count(te.get('macs'))} MACs · {fmt_count(te.get('params'))} params"))
    if h.hypervolume is not None:  # a similarity study measures no accuracy to take it over
        cards.append(_card("hypervolume", f"{h.hypervolume:.4f}", "accuracy x MACs, normalised (see below)"))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _banner(v: StudyView, multi: bool) -> str:
    name = f"Study <b>{_E(v.name)}</b>" if multi else "This study"
    n = len(v.trials)
    if n == 0:
        return f'<div class="banner info">{name} has no trials yet: nothing to plot. Run <code>kdnas search</code> on it, then report again.</div>'
    if v.count("failed") == n:
        return (f'<div class="banner">Every trial of {name.lower() if not multi else name} failed ({n} of {n}): there is no front. '
                "The reasons are listed under <a href=\"#failures\">Failures</a>.</div>")
    if v.ok.empty:
        return (f'<div class="banner info">{name} has no feasible trained trial yet ({n} trials): the front is empty.</div>')
    return ""


def _front_table(views: list[StudyView], multi: bool) -> str:
    any_lat = any(v.front["latency_ms"].notna().any() for v in views)
    any_final = any(v.trials[FINAL_TEST_ACC].notna().any() for v in views)
    losses = {v.axis.short for v in views if not v.axis.is_accuracy}  # the score a study ranked by, when not accuracy
    heads = (["study"] if multi else []) + ["trial"] + (["/".join(sorted(losses))] if losses else []) \
        + ["accuracy", "MACs", "params"] + (["latency"] if any_lat else []) \
        + (["final test acc"] if any_final else []) + ["acc - teacher", "MACs vs teacher", "architecture"]
    cls = lambda h: ' class="l"' if h in ("study", "architecture") else ""  # noqa: E731
    rows = []
    for i, v in enumerate(views):
        finals = dict(zip(v.trials["trial"], v.trials[FINAL_TEST_ACC]))
        te = v.teacher or {}
        for r in v.front.itertuples():
            cells = [f'<td class="l">{_tag(i, multi)}{_E(v.name)}</td>'] if multi else []
            cells.append(_num(r.trial, str(r.trial)))
            if losses:
                own = not v.axis.is_accuracy
                cells.append(_num(v.axis.shown_value(r.score) if own else None, v.axis.fmt(r.score) if own else "-"))
            cells += [_num(r.val_acc, fmt_acc(r.val_acc)),
                      _num(r.macs, fmt_count(r.macs)), _num(r.params, fmt_count(r.params))]
            if any_lat:
                cells.append(_num(r.latency_ms, fmt_ms(r.latency_ms)))
            if any_final:
                f = finals.get(r.trial)
                cells.append(_num(f, fmt_acc(f)))
            d = None if te.get("val_acc") is None or missing(r.val_acc) else r.val_acc - te["val_acc"]
            cells.append(_num(d, "-" if d is None else f"{100 * d:+.2f} pt"))
            ratio = None if not te.get("macs") else r.macs / te["macs"]
            cells.append(_num(ratio, "-" if ratio is None else f"{100 * ratio:.1f} %"))
            cells.append(f'<td class="arch">{_E(str(r.arch))}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return '<p class="note">No front yet: no feasible trial has been trained.</p>'
    head = "".join(f"<th{cls(h)}>{_E(h)}</th>" for h in heads)
    return (f'<div class="scroll"><table class="sortable" id="front-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _chips(c: Counter) -> str:
    return "".join(f'<span class="chip">{_E(str(k))} <b>&times;{n}</b></span>' for k, n in
                   sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _blocks(v: StudyView) -> str:
    usage = block_usage(v.front)
    if not usage:
        return '<p class="note">No front yet.</p>'
    top = usage[0]
    rows = [f'<tr><td class="l"><b>stem / head</b></td><td colspan="{len(STAGE_FIELDS)}">stem width '
            f'{_chips(top["stem"])} &nbsp; head width {_chips(top["head"])}</td></tr>']
    for i, st in enumerate(usage[1:]):
        rows.append(f'<tr><td class="l"><b>stage {i}</b></td>' + "".join(f"<td>{_chips(st[f])}</td>" for f in STAGE_FIELDS) + "</tr>")
    head = "".join(f'<th class="l">{f}</th>' for f in ("", *STAGE_FIELDS))
    return f'<table class="blocks"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _failures(views: list[StudyView], multi: bool) -> str:
    parts = []
    for v in views:
        f = v.trials[v.trials["status"] == "failed"]
        if f.empty:
            continue
        reasons = Counter(str(r).splitlines()[0][:200] if isinstance(r, str) else "(no reason recorded)" for r in f["reason"])
        rows = "".join(f'<tr><td data-v="{n}">{n}</td><td class="l">{_E(r)}</td></tr>' for r, n in reasons.most_common())
        label = f"<h3>{_E(v.name)}</h3>" if multi else ""
        trials = ", ".join(str(t) for t in f["trial"].head(200))
        more = f" (first 200 of {len(f)})" if len(f) > 200 else ""
        parts.append(f'{label}<table class="sortable compact"><thead><tr><th>trials</th><th class="l">reason</th></tr></thead>'
                     f'<tbody>{rows}</tbody></table><p class="note">failed trials{more}: {trials}</p>')
    return "".join(parts)


def _config(v: StudyView, multi: bool) -> str:
    label = f" of {_E(v.name)}" if multi else ""
    cfg = json.dumps(v.config, indent=2) if v.config else "(no kdnas config stored with this study)"
    teacher = f"<details><summary>teacher{label}</summary><pre>{_E(json.dumps(v.teacher, indent=2))}</pre></details>" \
        if v.teacher else ""
    return f"<details open><summary>resolved config{label}</summary><pre>{_E(cfg)}</pre></details>{teacher}"


def _fig_html(fig: object, div_id: str, first: list[bool]) -> str:
    # Plotly's JS goes into the first figure only; the rest reuse it.
    out = fig.to_html(full_html=False, include_plotlyjs=first[0], div_id=div_id, config=_PLOTLY_CONFIG)  # type: ignore[attr-defined]
    first[0] = False
    return out


def render_page(views: list[StudyView], headlines: list[Headline], curves: dict[str, pd.DataFrame],
                hv_scale: float | None, source: str = "") -> str:
    """The whole page as one string."""
    multi = len(views) > 1
    title = " + ".join(v.name for v in views)
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    first = [True]
    body: list[str] = []
    banners = "".join(_banner(v, multi) for v in views)
    for i, (v, h) in enumerate(zip(views, headlines)):
        name = f"<h2>{_tag(i, multi)}{_E(v.name)}</h2>" if multi else "<h2>At a glance</h2>"
        body.append(f"<section>{name}{_headline_cards(v, h)}</section>")
    plotted = any(len(v.trials) for v in views)
    if plotted:
        costs = cost_columns(views)
        axis = common_axis([v.axis for v in views])
        ranked_by = ("" if axis.is_accuracy else
                     f"The search ranked these students by {_E(axis.label)} (proxy.advanced.score: {axis.kind}), so that "
                     "is the vertical axis, reversed so that up is better; the teacher has no such figure. "
                     if axis.is_loss else
                     f"The search ranked these students by {_E(axis.label)} (proxy.method: similarity), so that is "
                     "the vertical axis; the teacher has no such figure. ")
        body.append(
            f"<section><h2>{_E(axis.short[0].upper() + axis.short[1:])} against MACs</h2><p class=\"note\">{ranked_by}"
            "Every trial with a cost is one marker. "
            "Filled markers joined by a step line: the front in accuracy and MACs. Faded: trained but dominated. "
            "Under the plot, trials without an accuracy: infeasible (over a constraint, never trained), failed, "
            "and running. The star and dotted line are the teacher. Hover for the trial, its architecture and "
            "figures; drag to zoom, double-click to reset; click a legend entry to hide it.</p>"
            f"{_fig_html(pareto_figure(views, 'macs'), 'fig-macs', first)}</section>")
        others = [c for c in costs if c != "macs"]
        if others:
            figs = "".join(f"<div><h3>{_E(axis.short[0].upper() + axis.short[1:])} against {COST_LABELS[c]}</h3>"
                           f"{_fig_html(pareto_figure(views, c, height=460), f'fig-{c}', first)}</div>" for c in others)
            body.append(f'<section><h2>Other costs</h2><p class="note">The same trials against '
                        f"{' and '.join(COST_LABELS[c] for c in others)} (fronts in that pair).</p>"
                        f'<div class="grid2">{figs}</div></section>')
    latency = "; ".join(f"{v.name + ': ' if multi else ''}{v.latency_setting}" for v in views
                        if v.has_latency and v.latency_setting)
    body.append(f'<section><h2>Pareto front</h2><p class="note">The front of each study in its own objectives '
                f"({', '.join(_E('/'.join(v.objectives)) for v in views)}), one row per distinct architecture. "
                + (f"Latency in ms per batch, measured with {_E(latency)}. " if latency else "")
                + "Click a column header to sort.</p>"
                f"{_front_table(views, multi)}</section>")
    if plotted and curves:
        scale = "" if hv_scale is None else f" Here M = {fmt_cost('macs', hv_scale)} MACs."
        body.append(f'<section><h2>Hypervolume over trials</h2><p class="note">{_E(HV_DOC)}.{_E(scale)} It grows '
                    "when a trial improves the front; a flat tail means the search has stopped finding better "
                    f"students.</p>{_fig_html(hypervolume_figure(curves), 'fig-hv', first)}</section>")
    blocks = "".join((f"<h3>{_tag(i, multi)}{_E(v.name)}</h3>" if multi else "") + _blocks(v) for i, v in enumerate(views))
    body.append('<section><h2>Block choices on the front</h2><p class="note">Per stage, how many of the front\'s '
                f"architectures use each op, kernel, expansion, width and depth (skip stages count as op only).</p>{blocks}</section>")
    corrs = {v.name: rc for v in views if (rc := rank_correlation(v)) is not None}
    if corrs:
        lines = "; ".join(f"{_E(n)}: Kendall &tau; {rc.kendall_tau:.3f}, Spearman &rho; {rc.spearman_rho:.3f} (n={rc.n})"
                          for n, rc in corrs.items())
        body.append(f'<section><h2>Proxy score against final accuracy</h2><p class="note">Retrained students: how '
                    f"well the short distillation proxy ranked them. {lines}.</p>"
                    f"{_fig_html(correlation_figure(corrs), 'fig-corr', first)}</section>")
    rung_lines = "".join(f"<li>{_E(v.name + ': ' if multi else '')}{_E(pair.line())}</li>"
                         for v in views for pair in rung_agreement(v.trials))
    if rung_lines:
        body.append(f'<section id="rungs"><h2>Rung against rung</h2><p class="note">{_E(RUNGS_DOC)}</p>'
                    f"<ul>{rung_lines}</ul></section>")
    fails = _failures(views, multi)
    if fails:
        body.append(f'<section id="failures"><h2>Failures</h2><p class="note">Trials that failed, by reason.</p>{fails}</section>')
    body.append("<section><h2>Configuration</h2>" + "".join(_config(v, multi) for v in views) + "</section>")
    src = f" · storage {_E(source)}" if source else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>kdnas report: {_E(title)}</title>'
            f"<style>{_CSS}</style></head><body><header><h1>kdnas report: {_E(title)}</h1>"
            f"<p>read from the storage at {now}{src} · a running study can be reported again at any time</p></header>"
            f"<main>{banners}{''.join(body)}</main><script>{_JS}</script></body></html>\n")
