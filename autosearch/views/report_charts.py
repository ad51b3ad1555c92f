"""The run report's charts: learning curves, hyperparameters against the objective, search progress and the
best trial on the test split. Pure Python (the stored predictions are read with ``csv``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

from autosearch.tracking import RunInfo, TrialKind, TrialRecord
from autosearch.views import formats, svg
from autosearch.views.leaderboard import HP_PREFIX, varying_hyperparameters
from autosearch.views.report_page import e, label


def _kind(metric: str | None) -> str:
    return "percent" if formats.is_percent_metric(metric) else "real"


def _legend(names: Sequence[str]) -> str:
    items = "".join(f'<span><i style="background:{svg.PALETTE[i % len(svg.PALETTE)]}"></i>{e(n)}</span>'
                    for i, n in enumerate(names))
    return f'<div class="legend">trial: {items}</div>'


def curves(trials: Sequence[TrialRecord], objective: str) -> str:
    """One chart per metric (the objective, validation loss, loss), a line per search trial, epochs ticked whole."""
    search = [t for t in trials if t.kind is TrialKind.SEARCH and t.epochs]
    if not search:
        return "<p>No epochs were recorded.</p>"
    charts = []
    for metric in dict.fromkeys([objective, "val_loss", "loss"]):
        series = [(t, [e_.epoch + 1 for e_ in t.epochs], [e_.metrics.get(metric, math.nan) for e_ in t.epochs])
                  for t in search]
        ys = [y for _, _, ys in series for y in ys]
        if not any(math.isfinite(y) for y in ys):
            continue
        chart = svg.Chart(f"Learning curves: {label(metric)}", "epoch", label(metric),
                          [x for _, xs, _ in series for x in xs], ys, x_kind="integer", y_kind=_kind(metric))
        for i, (t, xs, ys_) in enumerate(series):
            color = svg.PALETTE[i % len(svg.PALETTE)]
            chart.line(xs, ys_, color, f"trial {t.local_id}")
            chart.dots(xs, ys_, color, [f"trial {t.local_id}, epoch {x}: {formats.score(y, metric)}"
                                        for x, y in zip(xs, ys_)], r=2.5)
        charts.append(f"<div>{chart.render()}{_legend([t.local_id for t, _, _ in series])}</div>")
    return "".join(charts)


def _axis(name: str, values: Sequence[Any]) -> svg.Axis:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
               and not formats.is_missing(v)]
    if len(numbers) == len(values):
        integer = all(float(v).is_integer() for v in numbers)
        return svg.numeric_axis(name, [float(v) for v in numbers], integer=integer, choices=True)
    return svg.category_axis(name, [formats.hyperparameter(v) for v in values])


def parallel(rows: Sequence[dict[str, Any]], objective: str) -> str:
    """Completed search trials as lines across their varying hyperparameters and the objective, coloured
    from poor to good on a labelled colour scale."""
    done = [r for r in rows if r["kind"] == "search" and not formats.is_missing(r["objective"])]
    hps = varying_hyperparameters(done) if done else []
    hps = hps or [c for c in (done[0] if done else {}) if c.startswith(HP_PREFIX)
                  and not c.startswith(HP_PREFIX + "tuner/")][:4]
    if not done or not hps:
        return "<p>Not enough completed trials with hyperparameters to draw.</p>"
    axes = [_axis(label(h[len(HP_PREFIX):]), [r.get(h) for r in done]) for h in hps]
    values = [float(r["objective"]) for r in done]
    scale = svg.numeric_axis(label(objective), values, percent=formats.is_percent_metric(objective))
    axes.append(scale)
    lo, hi = min(values), max(values)
    up = [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in values]
    goodness = up if done[0]["direction"] == "max" else [1 - g for g in up]
    if done[0]["direction"] != "max":  # the bar runs from poor (bottom) to good (top)
        scale = svg.Axis(scale.name, scale.positions, [(1 - p, t) for p, t in scale.ticks])
    local = [str(r["trial_id"]).rsplit("/", 1)[-1] for r in done]
    labels = [f"trial {t}: {formats.score(v, objective)}" for t, v in zip(local, values)]
    return svg.parallel_coordinates("Hyperparameters against the objective", axes, labels, goodness, scale)


def progress(trials: Sequence[TrialRecord], objective: str, direction: str) -> str:
    """Each search trial's objective in start order, and the best so far."""
    search = [t for t in trials if t.kind is TrialKind.SEARCH]
    xs = list(range(1, len(search) + 1))
    ys = [t.objective if t.objective is not None else math.nan for t in search]
    if not any(math.isfinite(y) for y in ys):
        return "<p>No completed trial yet.</p>"
    pick, so_far, best = (max if direction == "max" else min), [], math.nan
    for y in ys:
        best = y if math.isnan(best) else (pick(best, y) if math.isfinite(y) else best)
        so_far.append(best)
    chart = svg.Chart(f"{label(objective)} by trial order", "trial (start order)", label(objective), xs, ys,
                      x_kind="integer", y_kind=_kind(objective))
    chart.line(xs, so_far, "#d62728", "best so far", width=2, step=True)
    chart.dots(xs, ys, "#1f77b4", [f"trial {t.local_id}: {formats.score(y, objective)}" for t, y in zip(search, ys)])
    return chart.render()


def _predictions(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["y_true"] for r in rows], [r["y_pred"] for r in rows]


def best_trial(run: RunInfo) -> str:
    """A confusion matrix (classification) or predicted-against-actual and residual plots (regression)."""
    path = run.run_dir / "predictions" / "test.csv" if run.run_dir else None
    if path is None or not path.exists():
        return "<p>No stored predictions for the best trial.</p>"
    truth, pred = _predictions(path)
    classes = run.data.get("class_names")
    if classes:
        names = [str(c) for c in classes]
        idx = {c: i for i, c in enumerate(names)}
        matrix = [[0] * len(names) for _ in names]
        for t, p in zip(truth, pred):
            matrix[idx[t]][idx[p]] += 1
        acc = sum(matrix[i][i] for i in range(len(names))) / max(len(truth), 1)
        return svg.heatmap(f"Confusion matrix on test (accuracy {formats.percent(acc)})", matrix, names, names,
                           "predicted", "true")
    y, p = [float(v) for v in truth], [float(v) for v in pred]
    lo, hi = min(y + p), max(y + p)
    mae = sum(abs(b - a) for a, b in zip(y, p)) / max(len(y), 1)
    scatter = svg.Chart(f"Predicted against actual on test (MAE {formats.decimal(mae)})", "actual", "predicted",
                        [lo, hi], [lo, hi])
    scatter.line([lo, hi], [lo, hi], "#999", "ideal")
    scatter.dots(y, p, "#1f77b4", [f"actual {formats.value(a)}, predicted {formats.value(b)}" for a, b in zip(y, p)])
    resid = [b - a for a, b in zip(y, p)]
    chart = svg.Chart("Residuals on test", "predicted", "residual (predicted - actual)", p, resid)
    chart.line([min(p), max(p)], [0, 0], "#999", "zero")
    chart.dots(p, resid, "#ff7f0e", [f"predicted {formats.value(b)}, residual {formats.value(r)}"
                                     for b, r in zip(p, resid)])
    return scatter.render() + chart.render()
