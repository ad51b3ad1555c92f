"""What people read of a leaderboard and a run list: the columns, their headers, how each value is written
(``views.formats``), and the four output formats (``table`` fits the terminal: ``views.tables``).

A leaderboard of one run names its trials by their id in the run (``3``, ``baseline-majority``); one of
several runs by the run's short id and that (``a1b2/3``); the run headers above the table give the full ids.
The headers are ``leaderboard.HEADERS`` (and the objective's metric name): ``--sort`` takes them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from autosearch.errors import ViewError
from autosearch.tracking import RunInfo
from autosearch.tracking.records import split_trial_id
from autosearch.views import formats as fmt
from autosearch.views.leaderboard import (
    HEADERS,
    Row,
    frame_of,
    hp_headers,
    missing,
    objective_header,
    sort_column,
    varying_hyperparameters,
)
from autosearch.views.runs import tag_text
from autosearch.views.tables import Column, Table, wrap

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "markdown", "csv", "json")


def short_run_ids(run_ids: Iterable[str]) -> dict[str, str]:
    """run id -> the short id people can tell runs apart by: its last part (``a1b2``), unless two share it."""
    ids = list(dict.fromkeys(run_ids))
    tails = [i.rsplit("-", 1)[-1] for i in ids]
    unique = len(set(tails)) == len(tails)
    return {i: (t if unique else i) for i, t in zip(ids, tails)}


def trial_label(row: Row, short: Mapping[str, str] | None) -> str:
    """A trial's name in a table: its id in the run, after the run's short id when several runs are listed,
    with its kind unless the id says it (``baseline-majority``)."""
    run_id, local = split_trial_id(row["trial_id"])
    label = local if short is None else f"{short.get(run_id, run_id)}/{local}"
    return label if row["kind"] == "search" or local.startswith(row["kind"]) else f"{label} ({row['kind']})"


def _status(row: Row) -> str:
    error = row.get("error")
    return row["state"] if not isinstance(error, str) else f"{row['state']}: {' '.join(error.split())}"


def _numeric(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if not missing(v))


def leaderboard_table(rows: Sequence[Row], keep: Sequence[str] = ()) -> Table:
    """The leaderboard's columns as a person reads them, the least important dropped first when narrow; the
    row columns in ``keep`` (the one sorted by) are never dropped."""
    objective = objective_header(rows)
    runs = list(dict.fromkeys(r["run_id"] for r in rows))
    short = short_run_ids(runs) if len(runs) > 1 else None
    every = hp_headers(rows[0] if rows else ())  # the headers --sort knows
    heads = {c: every[c] for c in varying_hyperparameters(rows)}
    any_of = lambda key: any(not missing(r.get(key)) for r in rows)  # noqa: E731
    spec: list[tuple[Column, Any]] = [
        (Column("rank", "rank", 0, ">"), lambda r: fmt.integer(r["rank"]) + ("=" if r.get("tie") is True else "")),
        (Column("trial_id", "trial"), lambda r: trial_label(r, short)),
        (Column("objective", objective, 0, ">"), lambda r: fmt.score(r["objective"], r["objective_name"])),
    ]
    if any_of("cv_folds"):  # small data: trials compared by cross-validation
        spec.append((Column("selection_score", HEADERS["selection_score"], 6, ">"),
                     lambda r: fmt.score(r["selection_score"], r["objective_name"]) if not missing(r["cv_folds"])
                     else fmt.MISSING))
    if any_of("selection_se"):  # the standard error the tie band is made of
        spec.append((Column("selection_se", HEADERS["selection_se"], 6, ">"),
                     lambda r: fmt.score(r["selection_se"], r["objective_name"])))
    spec.append((Column("test_score", HEADERS["test_score"], 1, ">"),
                 lambda r: fmt.score(r["test_score"], r["score_metric"])))
    for col, head in heads.items():
        spec.append((Column(col, head, 2, ">" if _numeric(r.get(col) for r in rows) else "<"),
                     lambda r, col=col: fmt.hyperparameter(r.get(col))))
    spec += [
        (Column("best_epoch", HEADERS["best_epoch"], 5, ">"), lambda r: fmt.integer(r["best_epoch"])),
        (Column("trainable_params", HEADERS["trainable_params"], 4, ">"), lambda r: fmt.count(r["trainable_params"])),
        (Column("duration_s", HEADERS["duration_s"], 3, ">"), lambda r: fmt.duration(r["duration_s"])),
        (Column("peak_rss_mb", HEADERS["peak_rss_mb"], 7, ">"), lambda r: fmt.size_mb(r["peak_rss_mb"])),
    ]
    if any(isinstance(r.get("worker"), str) for r in rows):  # a distributed search's runs
        spec.append((Column("worker", HEADERS["worker"], 8), lambda r: r["worker"] or fmt.MISSING))
    spec.append((Column("state", HEADERS["state"], 1, fold=True, min_width=11), _status))
    columns = [dataclasses.replace(c, priority=0) if c.key in keep else c for c, _ in spec]
    return Table(columns, [[cell(r) for _, cell in spec] for r in rows])


def run_header(run: RunInfo, short: str | None = None) -> str:
    """One line above a run's leaderboard: what ran on what, its name and tags, settings fitted to the data,
    baselines that won."""
    title = f"run {run.run_id}" + (f" [{short}]" if short and short != run.run_id else "")
    parts = [f"{title}: {run.pipeline} ({run.task}) on {run.dataset}, {run.status.value}"]
    if run.name:
        parts.append(f"name: {run.name}")
    if run.tags:
        parts.append(f"tags: {tag_text(run.tags)}")
    fitted = run.outcome.fitted
    if fitted:
        parts.append("fitted to the data: " + ", ".join(f"{k}={fmt.value(v)}" for k, v in fitted.items()))
    metric = run.scores.get("metric")
    for won in run.outcome.baselines_won:
        parts.append(f"baseline {won['model']} beat the search on test ({fmt.score(won['test'], metric)} vs "
                     f"{fmt.score(won['best_trial_test'], metric)})")
    return "; ".join(parts)


def run_headers(runs: Sequence[RunInfo], width: int | None) -> list[str]:
    short = short_run_ids(r.run_id for r in runs) if len(runs) > 1 else {}
    return [wrap(run_header(r, short.get(r.run_id)), width) for r in runs]


def runs_table(rows: Sequence[Row]) -> Table:
    """The run list's columns as a person reads them (``runs.runs_rows``)."""
    spec: list[tuple[Column, Any]] = [
        (Column("run_id", "run"), lambda r: r["run_id"]),
        (Column("name", "name", 2, fold=True, min_width=8), lambda r: r["name"] or fmt.MISSING),
        (Column("pipeline", "pipeline", 3), lambda r: r["pipeline"]),
        (Column("dataset", "data set", 4), lambda r: r["dataset"]),
        (Column("status", "status", 1), lambda r: r["status"]),
        (Column("verdict", "verdict", 2), lambda r: r["verdict"]),
        (Column("best_objective", "best", 2, ">"), lambda r: fmt.score(r["best_objective"], r["objective_name"])),
        (Column("test_score", "test", 2, ">"), lambda r: fmt.score(r["test_score"], r["test_metric"])),
        (Column("trials", "trials", 5, ">"), lambda r: fmt.integer(r["trials"])),
        (Column("started_at", "started", 6), lambda r: fmt.timestamp(r["started_at"])),
        (Column("duration_s", "duration", 3, ">"), lambda r: fmt.duration(r["duration_s"])),
        (Column("disk_mb", "disk", 7, ">"), lambda r: fmt.size_mb(r["disk_mb"])),
        (Column("tags", "tags", 3, fold=True, min_width=8), lambda r: tag_text(r["tags"]) or fmt.MISSING),
        (Column("note", "note", 8, fold=True, min_width=8),
         lambda r: " ".join((r["note"] or fmt.MISSING).split())),
    ]
    return Table([c for c, _ in spec], [[cell(r) for _, cell in spec] for r in rows])


def records_json(frame: "pd.DataFrame") -> str:
    """Rows as JSON objects with every float exact (pandas' writer keeps 15 digits at most), integers as
    integers, times in ISO 8601 and missing values as null."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat(timespec="microseconds"))
    rows = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return json.dumps(rows, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n"


def render(rows: Sequence[Row], form: str = "table", width: int | None = None, sort: str | None = None) -> str:
    """Leaderboard rows (``leaderboard_rows``) in one of ``FORMATS``: the table fits ``width`` cells (None:
    every column), keeping the column ``sort`` names; CSV and JSON keep every column, machine-readable."""
    if form == "table":
        keep = [sort_column(sort.lstrip("-"), rows)] if sort and rows else []
        return leaderboard_table(rows, keep).render(width)
    if form == "markdown":
        return leaderboard_table(rows).markdown()
    if form == "csv":
        return frame_of(rows).to_csv(index=False)
    if form == "json":
        return records_json(frame_of(rows))
    raise ViewError(f"--format '{form}' is unknown; use one of {', '.join(FORMATS)}.")
