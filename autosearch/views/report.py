"""One self-contained HTML report per run, plus an index over all runs.

Everything is inline (CSS, a few lines of JavaScript, SVG charts), so the file
opens offline and can be mailed around. The report reads the tracker and the
best trial's stored predictions; it trains and loads nothing.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from autosearch.fileio import write_text_atomic
from autosearch.tracking import RunInfo, Tracker, TrialKind, autosearch_home
from autosearch.views import svg
from autosearch.views.leaderboard import (
    HP_PREFIX,
    trials_frame,
    varying_hyperparameters,
)
from autosearch.views.runs import runs_frame

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
th{cursor:pointer;background:#f6f6f6;user-select:none}th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"}tr.baseline td{color:#666;font-style:italic}
tr.failed td{color:#a00}.meta td:first-child{font-weight:bold}.charts{display:flex;flex-wrap:wrap;gap:16px}
input#filter{margin:6px 0;padding:4px;width:320px}
.legend{font-size:11px;max-width:640px}.legend span{margin-right:10px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:3px}
"""

JS = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], idx=[...th.parentNode.children].indexOf(th);
  const asc=!th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h=>h.classList.remove('sorted-asc','sorted-desc'));
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  const key=r=>{const c=r.children[idx], v=c.dataset.value??c.textContent; const n=parseFloat(v);
    return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();};
  const rows=[...body.rows].sort((a,b)=>{const x=key(a),y=key(b);
    if(typeof x!==typeof y) return typeof x==='number'?-1:1; return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(r=>body.appendChild(r));
}
document.addEventListener('DOMContentLoaded',()=>{
  document.querySelectorAll('table.sortable th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
  const f=document.getElementById('filter');
  if(f) f.addEventListener('input',()=>{const q=f.value.toLowerCase();
    document.querySelectorAll('#leaderboard tbody tr').forEach(r=>{r.style.display=r.textContent.toLowerCase().includes(q)?'':'none';});});
});
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return '<td data-value=""></td>'
    if isinstance(value, float):
        return f'<td data-value="{value!r}">{value:.4g}</td>'
    return f'<td data-value="{_e(value)}">{_e(value)}</td>'


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<style>{CSS}</style><script>{JS}</script></head><body>{body}</body></html>')


def _leaderboard_table(frame: pd.DataFrame) -> str:
    hps = varying_hyperparameters(frame)
    cols = ["rank", "trial_id", "kind", "state", "objective", "best_epoch", "trainable_params", "duration_s",
            "peak_rss_mb", *hps, "error"]
    head = "".join(f"<th>{_e(c[len(HP_PREFIX):] if c.startswith(HP_PREFIX) else c)}</th>" for c in cols)
    rows = []
    for _, r in frame.iterrows():
        cls = "baseline" if r["kind"] == TrialKind.BASELINE.value else ("failed" if r["state"] != "COMPLETED" else "")
        cells = "".join(_cell(None if pd.isna(r.get(c)) else (float(r[c]) if isinstance(r[c], (float, np.floating)) else r[c]))
                        for c in cols)
        rows.append(f'<tr class="{cls}">{cells}</tr>')
    return (f'<input id="filter" placeholder="filter rows…"><table id="leaderboard" class="sortable">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _curves(trials: list, objective: str) -> str:
    search = [t for t in trials if t.kind is TrialKind.SEARCH and t.epochs]
    if not search:
        return "<p>No epochs were recorded.</p>"
    charts = []
    for metric in dict.fromkeys([objective, "val_loss", "loss"]):
        series = [(t, [e.epoch + 1 for e in t.epochs], [e.metrics.get(metric, math.nan) for e in t.epochs]) for t in search]
        ys = [y for _, _, ys in series for y in ys]
        if not any(math.isfinite(y) for y in ys):
            continue
        chart = svg.Chart(f"Learning curves: {metric}", "epoch", metric, [x for _, xs, _ in series for x in xs], ys)
        for i, (t, xs, ys_) in enumerate(series):
            chart.line(xs, ys_, svg.PALETTE[i % len(svg.PALETTE)], t.trial_id)
        charts.append(f"<div>{chart.render()}{_legend([t.local_id for t, _, _ in series])}</div>")
    return "".join(charts)


def _legend(names: list[str]) -> str:
    items = "".join(
        f'<span><i style="background:{svg.PALETTE[i % len(svg.PALETTE)]}"></i>{_e(n)}</span>'
        for i, n in enumerate(names))
    return f'<div class="legend">trial: {items}</div>'



def _parallel(frame: pd.DataFrame) -> str:
    done = frame[(frame["kind"] == "search") & frame["objective"].notna()]
    hps = varying_hyperparameters(done) or [c for c in done.columns if c.startswith(HP_PREFIX)][:4]
    if done.empty or not hps:
        return "<p>Not enough completed trials with hyperparameters to draw.</p>"
    axes, rows, ticks = [], [], []
    columns = [*hps, "objective"]
    scaled = {}
    for col in columns:
        values = done[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            lo, hi = float(numeric.min()), float(numeric.max())
            scaled[col] = (numeric - lo) / (hi - lo) if hi > lo else numeric * 0 + 0.5
            ticks.append((svg._fmt(lo), svg._fmt(hi)))
        else:
            labels = values.map(lambda v: "-" if v is None or v is pd.NA or v != v else str(v))  # absent: "-"
            cats = sorted(labels.unique())
            scaled[col] = labels.map({c: (i / max(len(cats) - 1, 1)) for i, c in enumerate(cats)})
            ticks.append((cats[0], cats[-1]))
        axes.append(col[len(HP_PREFIX):].split("/")[-1] if col.startswith(HP_PREFIX) else col)
    obj = scaled["objective"].to_numpy(dtype=float)
    direction = done["direction"].iloc[0]
    goodness = obj if direction == "max" else 1 - obj
    colors = [f"rgb({int(220 * (1 - g))},{int(60 + 120 * g)},{int(200 * g)})" for g in goodness]
    for i in range(len(done)):
        rows.append([float(scaled[c].iloc[i]) for c in columns])
    labels = [f"{t}: {o:.4g}" for t, o in zip(done["trial_id"], done["objective"])]
    return svg.parallel_coordinates("Hyperparameters against the objective", axes, rows, labels, colors, ticks)


def _progress(trials: list, objective: str, direction: str) -> str:
    search = [t for t in trials if t.kind is TrialKind.SEARCH]
    xs = list(range(1, len(search) + 1))
    ys = [t.objective if t.objective is not None else math.nan for t in search]
    if not any(math.isfinite(y) for y in ys):
        return "<p>No completed trial yet.</p>"
    best, so_far = (max if direction == "max" else min), []
    for y in ys:
        prev = [v for v in so_far if math.isfinite(v)]
        so_far.append(best([y, prev[-1]]) if prev and math.isfinite(y) else (y if math.isfinite(y) else (prev[-1] if prev else math.nan)))
    chart = svg.Chart(f"{objective} by trial order", "trial (start order)", objective, xs, ys)
    chart.line(xs, so_far, "#d62728", "best so far", width=2, step=True)
    chart.dots(xs, ys, "#1f77b4", [f"{t.trial_id}: {y:.4g}" for t, y in zip(search, ys)])
    return chart.render()


def _best_trial(run: RunInfo) -> str:
    path = run.run_dir
    test = path / "predictions" / "test.csv" if path else None
    if test is None or not test.exists():
        return "<p>No stored predictions for the best trial.</p>"
    frame = pd.read_csv(test)
    classes = run.data.get("class_names")
    if classes:
        names = [str(c) for c in classes]
        idx = {c: i for i, c in enumerate(names)}
        matrix = np.zeros((len(names), len(names)), dtype=int)
        for t, p in zip(frame["y_true"].astype(str), frame["y_pred"].astype(str)):
            matrix[idx[t], idx[p]] += 1
        acc = float(np.trace(matrix) / max(matrix.sum(), 1))
        return (svg.heatmap(f"Confusion matrix on test (accuracy {acc:.4f})", matrix.tolist(), names, names,
                            "predicted", "true"))
    y, p = frame["y_true"].to_numpy(float), frame["y_pred"].to_numpy(float)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    scatter = svg.Chart(f"Predicted vs actual on test (MAE {np.mean(np.abs(p - y)):.4g})", "actual", "predicted",
                        [lo, hi], [lo, hi])
    scatter.line([lo, hi], [lo, hi], "#999", "ideal")
    scatter.dots(y, p, "#1f77b4", [f"actual {a:.4g}, predicted {b:.4g}" for a, b in zip(y, p)])
    resid = svg.Chart("Residuals on test", "predicted", "residual (predicted - actual)", p, p - y)
    resid.line([p.min(), p.max()], [0, 0], "#999", "zero")
    resid.dots(p, p - y, "#ff7f0e", [f"predicted {b:.4g}, residual {b - a:.4g}" for a, b in zip(y, p)])
    return scatter.render() + resid.render()


def _meta(run: RunInfo) -> str:
    env, data = run.environment, run.data
    scores, base = run.scores, run.baseline
    rows = [
        ("run", run.run_id), ("pipeline", f"{run.pipeline} ({run.task})"), ("status", run.status.value),
        ("data set", run.dataset), ("data fingerprint", run.fingerprint), ("rows", json.dumps(data.get("rows"))),
        ("best trial", run.best_trial_id),
        ("fitted to the data", ", ".join(f"{k} = {v}" for k, v in run.outcome.fitted.items()) or "-"),
        ("test score", f"{scores.get('metric', '')} {scores.get('test', '')} (validation {scores.get('validation', '')})"),
        ("baseline", f"{base.get('name', '')}: test {base.get('test', '')}"),
        *[("baseline won", f"{w['model']}: test {w['test']:.4f} against the best trial's {w['best_trial_test']:.4f}")
          for w in run.outcome.baselines_won],
        ("duration", f"{run.duration:.0f} s" if run.duration else ""),
        ("versions", ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)),
        ("git", f"{env.get('git', {}).get('commit')} (dirty: {env.get('git', {}).get('dirty')})"),
        ("machine", ", ".join(f"{k} {v}" for k, v in env.get("machine", {}).items() if k != "python_executable")),
    ]
    return '<table class="meta">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def run_report_html(tracker: Tracker, run: RunInfo) -> str:
    trials = tracker.list_trials(run.run_id, with_epochs=True)
    frame = trials_frame(trials, {run.run_id: run})
    objective, direction = run.objective or "objective", run.direction
    body = (
        f'<p><a href="index.html">all runs</a></p><h1>autosearch run {_e(run.run_id)}</h1>{_meta(run)}'
        f'<h2>Leaderboard</h2>{_leaderboard_table(frame)}'
        f'<h2>Learning curves</h2><div class="charts">{_curves(trials, objective)}</div>'
        f'<h2>Hyperparameters</h2><div class="charts">{_parallel(frame)}</div>'
        f'<h2>Search progress</h2><div class="charts">{_progress(trials, objective, direction)}</div>'
        f'<h2>Best trial on the test split</h2><div class="charts">{_best_trial(run)}</div>'
    )
    return _page(f"autosearch {run.run_id}", body)


def index_html(tracker: Tracker) -> str:
    frame = runs_frame(tracker)
    cols = ["run_id", "pipeline", "dataset", "status", "objective_name", "best_objective", "test_metric",
            "test_score", "trials", "started_at", "disk_mb"]
    rows = []
    for _, r in frame.iterrows():
        cells = "".join(_cell(r[c] if not isinstance(r[c], pd.Timestamp) else str(r[c])[:19]) for c in cols[1:])
        rows.append(f'<tr><td data-value="{_e(r["run_id"])}"><a href="{_e(r["run_id"])}.html">{_e(r["run_id"])}</a></td>{cells}</tr>')
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    return _page("autosearch runs", f'<h1>autosearch runs</h1><table class="sortable"><thead><tr>{head}</tr></thead>'
                                    f'<tbody>{"".join(rows)}</tbody></table>')


def write_report(tracker: Tracker, run_ids: Iterable[str] | None = None, out_dir: Path | None = None) -> list[Path]:
    """Write ``<out_dir>/<run id>.html`` for the given runs (default: the newest) and ``index.html``."""
    out_dir = Path(out_dir or autosearch_home() / "reports")
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [tracker.get_run(r) for r in run_ids] if run_ids else tracker.list_runs()[:1]
    paths = []
    for run in runs:
        path = out_dir / f"{run.run_id}.html"
        write_text_atomic(path, run_report_html(tracker, run))
        paths.append(path)
    index = out_dir / "index.html"
    write_text_atomic(index, index_html(tracker))
    return [*paths, index]
