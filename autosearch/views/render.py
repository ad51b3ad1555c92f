"""Render leaderboards and run lists for the terminal, Markdown, CSV and JSON.

The terminal and Markdown tables are made of plain rows (no pandas import: a
second saved on every look at a leaderboard); CSV and JSON go through pandas.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from autosearch.errors import ViewError
from autosearch.views.leaderboard import HP_PREFIX, Row, frame_of, missing, varying_hyperparameters

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "markdown", "csv", "json")


def _num(value: Any, digits: int = 4) -> str:
    return "-" if missing(value) else f"{value:.{digits}f}"


def _count(n: Any) -> str:
    if missing(n):
        return "-"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def _secs(seconds: Any) -> str:
    if missing(seconds):
        return "-"
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def _hp(value: Any) -> str:
    if missing(value):
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _int(value: Any) -> str:
    return "-" if missing(value) else str(int(value))


def _time(seconds: Any) -> str:
    """A start time to the second, in UTC."""
    if missing(seconds):
        return "-"
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def display_rows(rows: Sequence[Row]) -> list[Row]:
    """The columns a person reads: rank, trial, objective, varying hyperparameters, epoch, size, time, memory, status."""
    objective = {r["objective_name"] for r in rows if not missing(r["objective_name"])}
    obj_label = next(iter(objective)) if len(objective) == 1 else "objective"
    hps = varying_hyperparameters(rows)
    workers = any(isinstance(r["worker"], str) for r in rows)  # a distributed search's runs
    cv = any(not missing(r.get("cv_folds")) for r in rows)  # small data: trials compared by cross-validation
    out = []
    for r in rows:
        status = r["state"] if not isinstance(r["error"], str) else f"{r['state']}: {r['error'][:70]}"
        kind = "" if r["kind"] == "search" else f" ({r['kind']})"
        out.append({
            "rank": _int(r["rank"]) + ("=" if r.get("tie") is True else ""),  # "=": in the best's tie band
            "trial": r["trial_id"] + kind,
            obj_label: _num(r["objective"]),
            **({"cv mean": _num(r["selection_score"]) if not missing(r.get("cv_folds")) else "-"} if cv else {}),
            "±": _num(r.get("selection_se"), 3),  # the standard error the tie band is made of
            "test": _num(r["test_score"]),
            **{h[len(HP_PREFIX):].split("/")[-1]: _hp(r.get(h)) for h in hps},
            "best epoch": _int(r["best_epoch"]),
            "params": _count(r["trainable_params"]),
            "time": _secs(r["duration_s"]),
            "peak mem": "-" if missing(r["peak_rss_mb"]) else f"{r['peak_rss_mb']:.0f}MB",
            **({"worker": r["worker"] if isinstance(r["worker"], str) else "-"} if workers else {}),
            "status": status,
        })
    return out


def run_header(run: Any) -> str:
    """One line above a run's leaderboard: what ran on what, settings fitted to the data, baselines that won."""
    parts = [f"run {run.run_id}: {run.pipeline} ({run.task}) on {run.dataset}, {run.status.value}"]
    fitted = run.outcome.fitted
    if fitted:
        parts.append("fitted to the data: " + ", ".join(f"{k}={v}" for k, v in fitted.items()))
    for won in run.outcome.baselines_won:
        parts.append(f"baseline {won['model']} beat the search on test ({won['test']:.4f} vs "
                     f"{won['best_trial_test']:.4f})")
    return "; ".join(parts)


def display_runs(rows: Sequence[Row]) -> list[Row]:
    """The run list as a person reads it: scores to 4 places, disk in MB, start to the second."""
    return [{**{k: v for k, v in r.items() if k != "duration_s"}, "best_objective": _num(r["best_objective"]),
             "test_score": _num(r["test_score"]), "disk_mb": f"{r['disk_mb']:.1f}", "started_at": _time(r["started_at"])}
            for r in rows]


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def text_table(rows: Sequence[Row]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    widths = [max(len(str(c)), *(len(_cell(r[c])) for r in rows)) for c in cols]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(_cell(r[c]).ljust(w) for c, w in zip(cols, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    cols = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r[c]).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def records_json(frame: "pd.DataFrame") -> str:
    """Rows as JSON objects with every float exact (pandas' writer keeps 15 digits at most), times in ISO 8601
    and missing values as null."""
    import json

    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat(timespec="microseconds"))
    rows = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return json.dumps(rows, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n"


def render(rows: Sequence[Row], fmt: str = "table") -> str:
    """Leaderboard rows (``leaderboard_rows``) in one of ``FORMATS``; CSV and JSON keep every column,
    machine-readable."""
    if fmt == "table":
        return text_table(display_rows(rows))
    if fmt == "markdown":
        return markdown_table(display_rows(rows))
    if fmt == "csv":
        return frame_of(rows).to_csv(index=False)
    if fmt == "json":
        return records_json(frame_of(rows))
    raise ViewError(f"--format '{fmt}' is unknown; use one of {', '.join(FORMATS)}.")
