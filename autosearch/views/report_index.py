"""The report's index page: every run in one table and each run's best score over time, filterable by
pipeline, data set and tag, in the page (no server) and from the command line (``runs.RunFilter``, the run
list's filters)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.tracking import Tracker
from autosearch.views import formats, svg
from autosearch.views.report_page import Column, e, label, page, table, text
from autosearch.views.runs import RunFilter, runs_rows, tag_text

__all__ = ["RunFilter", "index_html", "tag_chips"]


def tag_chips(tags: Mapping[str, str]) -> list[str]:
    """Tags as people write them (``runs.tag_text``, one by one): ``key=value``, or ``key`` alone."""
    return [tag_text({k: v}) for k, v in sorted(tags.items())]


def _attrs(row: Mapping[str, Any]) -> str:
    tags = "|".join(tag_chips(row["tags"]))
    return f'data-pipeline="{e(row["pipeline"])}" data-dataset="{e(row["dataset"])}" data-tags="{e(tags)}"'


def _run_link(row: Mapping[str, Any]) -> str:
    shown = e(row["name"] or row["run_id"])
    link = f'<a href="{e(row["run_id"])}.html">{shown}</a>' if row["linked"] else shown
    return link + (f'<br><span class="note">{e(row["run_id"])}</span>' if row["name"] else "")


def _table(rows: Sequence[dict[str, Any]]) -> str:
    for r in rows:  # each run's scores in its own metric's units
        r["run_html"] = _run_link(r)
        r["objective_label"] = label(r["objective_name"] or "objective")
        r["best_text"] = formats.score(r["best_objective"], r["objective_name"])
        r["test_text"] = formats.score(r["test_score"], r["test_metric"])
        r["tags_text"] = ", ".join(tag_chips(r["tags"]))
    columns = [
        Column("run", "run_html", str, numeric=False, css="id", sort="run_id", markup=True),
        Column("started", "started_at", formats.timestamp, numeric=False, css="nowrap"),
        Column("pipeline", "pipeline", text, numeric=False), Column("data set", "dataset", text, numeric=False),
        Column("status", "status", text, numeric=False), Column("verdict", "verdict", text, numeric=False),
        Column("metric", "objective_label", text, numeric=False),
        Column("best", "best_text", text, sort="best_objective"),
        Column("test", "test_text", text, sort="test_score"),
        Column("trials", "trials", formats.integer), Column("duration", "duration_s", formats.duration),
        Column("disk", "disk_mb", formats.size_mb), Column("tags", "tags_text", text, numeric=False),
    ]
    return table(columns, rows, "runs", _attrs, "filtered")


def _select(ident: str, name: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in sorted(set(values)))
    return (f'<label>{e(name)} <select id="{ident}"><option value="">all</option>{options}</select></label>')


def _filters(rows: Sequence[Mapping[str, Any]]) -> str:
    tags = [chip for r in rows for chip in tag_chips(r["tags"])]
    return ('<div class="filters">' + _select("f-pipeline", "pipeline", [r["pipeline"] for r in rows])
            + _select("f-dataset", "data set", [r["dataset"] for r in rows]) + _select("f-tag", "tag", tags)
            + '<input id="filter" placeholder="filter rows…" aria-label="filter rows"></div>')


def _charts(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per objective: each run's best score at its start time, coloured by pipeline."""
    by_objective: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["objective_name"] and not formats.is_missing(r["best_objective"]):
            by_objective[r["objective_name"]].append(r)
    if not by_objective:
        return "<p>No run has a best score yet.</p>"
    pipelines = sorted({r["pipeline"] for r in rows})
    color = {p: svg.PALETTE[i % len(svg.PALETTE)] for i, p in enumerate(pipelines)}
    charts = []
    for objective, runs in sorted(by_objective.items()):
        xs, ys = [r["started_at"] for r in runs], [float(r["best_objective"]) for r in runs]
        chart = svg.Chart(f"Best {label(objective)} per run over time", "run start (UTC)", label(objective), xs, ys,
                          x_kind="time", y_kind="percent" if formats.is_percent_metric(objective) else "real")
        chart.dots(xs, ys, [color[r["pipeline"]] for r in runs],
                   [f"{r['name'] or r['run_id']}: {formats.score(r['best_objective'], objective)} "
                    f"({r['pipeline']} on {r['dataset']})" for r in runs], r=5,
                   attrs=[_attrs(r) for r in runs], cls="series run-dot")
        charts.append(chart.render())
    legend = "".join(f'<span><i style="background:{c}"></i>{e(p)}</span>' for p, c in color.items())
    return f'<div class="charts">{"".join(charts)}</div><div class="legend">pipeline: {legend}</div>'


def _narrowed(run_filter: RunFilter) -> str:
    parts = [f"pipeline {run_filter.pipeline}"] if run_filter.pipeline else []
    parts += [f"data set {run_filter.dataset}"] if run_filter.dataset else []
    parts += [f"tag {c}" for c in tag_chips({k: "" if v is None else v for k, v in run_filter.tags.items()})]
    return ", ".join(parts)


def index_html(tracker: Tracker, out_dir: Path | None = None, run_filter: RunFilter | None = None) -> str:
    """The index page of the runs ``run_filter`` keeps; those whose report is in ``out_dir`` link to it."""
    run_filter = run_filter or RunFilter()
    rows = [{**r, "status": str(r["status"]).lower(),
             "linked": out_dir is not None and (out_dir / f"{r['run_id']}.html").exists()}
            for r in runs_rows(tracker, run_filter)]
    narrowed = _narrowed(run_filter)
    note = (f'<p class="note">{len(rows)} runs{f" ({narrowed})" if narrowed else ""}, newest first. Runs without a '
            "link have no report yet: <code>autosearch report RUN_ID</code> writes one.</p>")
    body = (f'<h1>autosearch runs</h1>{note}{_filters(rows)}<h2>Best score per run over time</h2>{_charts(rows)}'
            f'<h2>Runs</h2>{_table(rows)}')
    return page("autosearch runs", body)
