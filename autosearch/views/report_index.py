"""The report's index page: every run in one table and each run's best score over time, filterable by
pipeline, data set and tag, in the page (no server) and from the command line (``RunFilter``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.errors import ViewError
from autosearch.tracking import RunInfo, RunStatus, Tracker, TrialKind
from autosearch.views import formats, svg
from autosearch.views.report_page import Column, e, label, page, table, text
from autosearch.views.runs import disk_use


@dataclass(frozen=True)
class RunFilter:
    """Which runs the index lists: all given conditions hold (a pipeline, a data set, every ``key=value`` tag)."""

    pipeline: str | None = None
    dataset: str | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)  # key -> value, or None: any value

    @classmethod
    def parse(cls, pipeline: str | None = None, dataset: str | None = None,
              tags: Sequence[str] = ()) -> "RunFilter":
        """From the command line: ``tags`` as ``key=value`` (that value) or ``key`` (any value); an empty key
        raises ``ViewError``."""
        parsed: dict[str, str | None] = {}
        for tag in tags:
            key, sep, value = tag.partition("=")
            if not key.strip():
                raise ViewError(f"--tag '{tag}' names no key; use --tag KEY=VALUE or --tag KEY.")
            parsed[key.strip()] = value.strip() if sep else None
        return cls(pipeline, dataset, parsed)

    def keeps(self, run: RunInfo) -> bool:
        tags = getattr(run, "tags", {}) or {}
        return ((self.pipeline is None or self.pipeline in (run.pipeline, run.task))
                and (self.dataset is None or run.dataset == self.dataset)
                and all(k in tags and (v is None or tags[k] == v) for k, v in self.tags.items()))


def tag_chips(tags: Mapping[str, str]) -> list[str]:
    """Tags as people write them: ``key=value``, or ``key`` alone for a tag without a value."""
    return [f"{k}={v}" if v != "" else k for k, v in tags.items()]


def run_verdict(run: RunInfo) -> str:
    """A short verdict for the run list: ``search won``, ``baseline won`` or ``-`` (no test score yet)."""
    if run.status is not RunStatus.COMPLETED or formats.is_missing(run.scores.get("test")):
        return formats.MISSING
    return "baseline won" if run.outcome.baselines_won else "search won"


def _row(run: RunInfo, trials: int, linked: bool) -> dict[str, Any]:
    tags = getattr(run, "tags", {}) or {}
    return {
        "run_id": run.run_id, "name": getattr(run, "name", None), "linked": linked, "pipeline": run.pipeline,
        "dataset": run.dataset, "status": run.status.value.lower(), "verdict": run_verdict(run),
        "objective_name": run.objective, "best_objective": run.best_objective,
        "test_metric": run.scores.get("metric"), "test_score": run.scores.get("test"), "trials": trials,
        "started_at": run.started_at, "duration_s": run.duration, "disk_mb": disk_use(run.run_dir) / 2**20,
        "tags": dict(tags),
    }


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
    """The index page; runs whose report is in ``out_dir`` link to it."""
    run_filter = run_filter or RunFilter()
    runs = [r for r in tracker.list_runs() if run_filter.keeps(r)]
    counts = tracker.trial_counts([r.run_id for r in runs], kinds=[TrialKind.SEARCH]) if runs else {}
    rows = [_row(r, counts.get(r.run_id, 0), out_dir is not None and (out_dir / f"{r.run_id}.html").exists())
            for r in runs]
    narrowed = _narrowed(run_filter)
    note = (f'<p class="note">{len(rows)} runs{f" ({narrowed})" if narrowed else ""}, newest first. Runs without a '
            "link have no report yet: <code>autosearch report RUN_ID</code> writes one.</p>")
    body = (f'<h1>autosearch runs</h1>{note}{_filters(rows)}<h2>Best score per run over time</h2>{_charts(rows)}'
            f'<h2>Runs</h2>{_table(rows)}')
    return page("autosearch runs", body)
