"""One self-contained HTML report per run, plus an index over all runs (``views.report_index``).

Everything is inline (CSS, a few lines of JavaScript, SVG charts), so the file opens offline and can be
mailed around. The report reads the tracker and the best trial's stored predictions; it trains and loads
nothing. Numbers are shown the one way ``views.formats`` shows them; the verdict (did the search beat its
baselines?) comes first, the best trial is highlighted, and wide tables scroll inside the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from autosearch.fileio import write_text_atomic
from autosearch.tracking import RunInfo, RunStatus, Tracker, autosearch_home
from autosearch.views import formats, report_charts
from autosearch.views.leaderboard import HEADERS, hp_headers, ranked_rows, varying_hyperparameters
from autosearch.views.report_index import RunFilter, index_html, tag_chips
from autosearch.views.report_page import Column, e, label, meta_table, page, table, text, tidy

__all__ = ["RunFilter", "index_html", "run_report_html", "verdict", "write_report"]


def verdict(run: RunInfo, rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(``won`` | ``lost`` | ``open``, one sentence): did the search's best model beat its baselines on test?"""
    metric = run.scores.get("metric")
    if run.status is not RunStatus.COMPLETED or formats.is_missing(run.scores.get("test")):
        why = f": {tidy(run.error)}" if run.error else ""
        return "open", f"No verdict: the run is {run.status.value.lower()} and its best model has no test score{why}."
    best = f"the search's best trial {_local(run.best_trial_id)} ({formats.score(run.scores['test'], metric)})"
    won = run.outcome.baselines_won
    if won:
        names = ", ".join(f"{_local(w.get('trial_id')) or tidy(w.get('model'))} "
                          f"({formats.score(w.get('test'), metric)})" for w in won)
        return "lost", f"A baseline won: {names} beat {best} on test {label(str(metric))}."
    base = [r for r in rows if r["kind"] == "baseline" and not formats.is_missing(r.get("test_score"))]
    if not base:
        return "won", f"The search's best trial scored {formats.score(run.scores['test'], metric)} on test; " \
                      "no baseline was scored."
    beaten = ", ".join(f"{_local(r['trial_id'])} ({formats.score(r['test_score'], metric)})" for r in base)
    return "won", f"The search beat its baselines: {best} against {beaten} on test {label(str(metric))}."


def _local(trial_id: Any) -> str:
    return "" if not trial_id else str(trial_id).rsplit("/", 1)[-1]


def _rows_text(rows: Any) -> str:
    if not isinstance(rows, Mapping):
        return formats.MISSING
    return " · ".join(f"{k} {formats.integer(v)}" for k, v in rows.items())


def _scored(scores: Mapping[str, Any]) -> str:
    metric = scores.get("metric")
    if formats.is_missing(scores.get("test")):
        return formats.MISSING
    return (f"{formats.score(scores.get('test'), metric)} {label(str(metric))} on test "
            f"(validation {formats.score(scores.get('validation'), metric)})")


def _machine(machine: Mapping[str, Any]) -> str:
    shown = {"host": None, "platform": None, "machine": None, "cpu_count": "CPUs", "ram_bytes": "RAM"}
    parts = []
    for key, value in machine.items():
        if key not in shown or formats.is_missing(value):
            continue
        value = formats.size(value) if key.endswith("_bytes") else formats.value(value)
        parts.append(f"{shown[key]} {value}" if shown[key] else str(value))
    return ", ".join(parts) or formats.MISSING


def _meta(run: RunInfo) -> str:
    env, data, base = run.environment, run.data, run.baseline
    git = env.get("git", {}) or {}
    budget = (run.config.get("search", {}) or {}).get("time_budget")
    tags = getattr(run, "tags", {}) or {}
    rows = [
        *([("name", run.name)] if getattr(run, "name", None) else []),
        *([("note", run.note)] if getattr(run, "note", None) else []),
        *([("tags", ", ".join(tag_chips(tags)))] if tags else []),
        ("run", run.run_id), ("pipeline", f"{run.pipeline} ({run.task})"), ("status", run.status.value.lower()),
        ("data set", run.dataset), ("rows", _rows_text(data.get("rows"))),
        ("data fingerprint", run.fingerprint), ("best trial", _local(run.best_trial_id) or formats.MISSING),
        ("best model", _scored(run.scores)),
        ("simplest baseline", f"{base.get('name')}: {_scored(base)}" if base else formats.MISSING),
        ("fitted to the data", ", ".join(f"{k} = {formats.value(v)}" for k, v in run.outcome.fitted.items())
         or formats.MISSING),
        ("time budget", formats.budget(budget)), ("duration", formats.duration(run.duration)),
        ("started", formats.timestamp(run.started_at)),
        ("versions", ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)),
        ("git", f"{str(git.get('commit') or '-')[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}"),
        ("machine", _machine(env.get("machine", {}) or {})),
    ]
    return meta_table(rows)


def _columns(rows: Sequence[Mapping[str, Any]], run: RunInfo) -> list[Column]:
    """The terminal's header words (``leaderboard.HEADERS``), with the metric spelled out where a score is shown."""
    objective, metric = run.objective or "objective", run.scores.get("metric") or run.baseline.get("metric")
    score = lambda m: lambda v: formats.score(v, m)  # noqa: E731
    h = HEADERS
    cols = [Column(h["rank"], "rank", formats.integer), Column(h["trial_id"], "trial", numeric=False, css="id"),
            Column("kind", "kind", text, numeric=False), Column(h["state"], "state", text, numeric=False),
            Column(label(objective), "objective", score(objective))]
    if metric and label(objective) != f"validation {label(metric)}":  # else the objective is the validation score
        cols.append(Column(f"{h['validation_score']} {label(metric)}", "validation_score", score(metric)))
    if metric:
        cols.append(Column(f"{h['test_score']} {label(metric)}", "test_score", score(metric)))
    cols += [Column(h["best_epoch"], "best_epoch", formats.integer),
             Column(h["trainable_params"], "trainable_params", formats.count),
             Column(h["duration_s"], "duration_s", formats.duration),
             Column(h["peak_rss_mb"], "peak_rss_mb", formats.size_mb)]
    varying = varying_hyperparameters(list(rows))
    names = hp_headers(varying)
    cols += [Column(label(names[c]), c, formats.hyperparameter, numeric=all(
        isinstance(r.get(c), (int, float)) or formats.is_missing(r.get(c)) for r in rows)) for c in varying]
    if any(isinstance(r.get("error"), str) and r["error"] for r in rows):  # no always-empty column
        cols.append(Column("error", "error", text, numeric=False))
    return cols


def _row_class(row: Mapping[str, Any], best: str | None) -> str:
    if row["trial_id"] == best:
        return 'class="best"'
    if row["kind"] == "baseline":
        return 'class="baseline"'
    return 'class="failed"' if str(row["state"]).upper() != "COMPLETED" else ""


def leaderboard_table(rows: Sequence[Mapping[str, Any]], run: RunInfo) -> str:
    """Every trial of the run: short ids, readable headers, formatted numbers, the best trial highlighted."""
    shown = [{**r, "trial": _local(r["trial_id"]), "kind": r["kind"], "state": str(r["state"]).lower()}
             for r in rows]
    best = run.best_trial_id or next((r["trial_id"] for r in rows if r.get("rank") == 1), None)
    return ('<div class="filters"><input id="filter" placeholder="filter rows…" aria-label="filter rows"></div>'
            + table(_columns(rows, run), shown, "leaderboard", lambda r: _row_class(r, best), "filtered"))


def run_report_html(tracker: Tracker, run: RunInfo) -> str:
    trials = tracker.list_trials(run.run_id, with_epochs=True)
    rows = ranked_rows(trials, {run.run_id: run})
    objective, direction = run.objective or "objective", run.direction
    kind, sentence = verdict(run, rows)
    title = getattr(run, "name", None) or run.run_id
    body = (
        f'<p><a href="index.html">all runs</a></p><h1>autosearch run {e(title)}</h1>'
        f'<p class="verdict {kind}">{e(sentence)}</p>{_meta(run)}'
        f'<h2>Leaderboard</h2><p class="note">Highlighted: the best trial (the one exported); italic: baselines. '
        f'Click a header to sort.</p>{leaderboard_table(rows, run)}'
        f'<h2>Learning curves</h2><div class="charts">{report_charts.curves(trials, objective)}</div>'
        f'<h2>Hyperparameters</h2><div class="charts">{report_charts.parallel(rows, objective)}</div>'
        f'<h2>Search progress</h2><div class="charts">{report_charts.progress(trials, objective, direction)}</div>'
        f'<h2>Best trial on the test split</h2><div class="charts">{report_charts.best_trial(run)}</div>'
    )
    return page(f"autosearch {title}", body)


def write_report(tracker: Tracker, run_ids: Iterable[str] | None = None, out_dir: Path | None = None,
                 index_filter: RunFilter | None = None, *, index_only: bool = False) -> list[Path]:
    """Write ``<out_dir>/<run id>.html`` for the given runs (None: the newest; none with ``index_only``) and
    ``index.html`` listing the runs ``index_filter`` keeps (default: all). Returns the paths written."""
    out_dir = Path(out_dir or autosearch_home() / "reports")
    ids = [] if index_only else (list(run_ids) if run_ids is not None else [r.run_id for r in tracker.list_runs()[:1]])
    runs = [tracker.get_run(r) for r in ids]  # an unknown id fails here, before anything is written
    pages = [(out_dir / f"{run.run_id}.html", run_report_html(tracker, run)) for run in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, content in pages:
        write_text_atomic(path, content)
    index = out_dir / "index.html"
    write_text_atomic(index, index_html(tracker, out_dir, index_filter))
    return [*(path for path, _ in pages), index]
