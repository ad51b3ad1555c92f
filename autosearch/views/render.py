"""Render leaderboards and run lists for the terminal, Markdown, CSV and JSON."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from autosearch.errors import ViewError
from autosearch.views.leaderboard import HP_PREFIX, varying_hyperparameters

FORMATS = ("table", "markdown", "csv", "json")


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    return f"{value:.{digits}f}"


def _count(n: Any) -> str:
    if n is None or n is pd.NA or (isinstance(n, float) and math.isnan(n)):
        return "-"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def _secs(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def _hp(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a person reads: rank, trial, objective, varying hyperparameters, epoch, size, time, memory, status."""
    objective = frame["objective_name"].dropna().unique()
    obj_label = objective[0] if len(objective) == 1 else "objective"
    hps = varying_hyperparameters(frame)
    workers = "worker" in frame and frame["worker"].notna().any()  # a distributed search's runs
    rows = []
    for _, r in frame.iterrows():
        status = r["state"] if not isinstance(r["error"], str) else f"{r['state']}: {r['error'][:70]}"
        kind = "" if r["kind"] == "search" else f" ({r['kind']})"
        rows.append({
            "rank": "-" if pd.isna(r["rank"]) else str(r["rank"]),
            "trial": r["trial_id"] + kind,
            obj_label: _num(r["objective"]),
            "test": _num(r.get("test_score")),
            **{h[len(HP_PREFIX):].split("/")[-1]: _hp(r.get(h)) for h in hps},
            "best epoch": "-" if pd.isna(r["best_epoch"]) else str(r["best_epoch"]),
            "params": _count(r["trainable_params"]),
            "time": _secs(r["duration_s"]),
            "peak mem": "-" if pd.isna(r["peak_rss_mb"]) else f"{r['peak_rss_mb']:.0f}MB",
            **({"worker": r["worker"] if isinstance(r["worker"], str) else "-"} if workers else {}),
            "status": status,
        })
    return pd.DataFrame(rows)


def run_header(run: Any) -> str:
    """One line above a run's leaderboard: what ran on what, settings fitted to the data, baselines that won."""
    parts = [f"run {run.run_id}: {run.pipeline} ({run.task}) on {run.dataset}, {run.status.value}"]
    fitted = run.summary.get("fitted") or {}
    if fitted:
        parts.append("fitted to the data: " + ", ".join(f"{k}={v}" for k, v in fitted.items()))
    for won in run.summary.get("baselines_won", []):
        parts.append(f"baseline {won['model']} beat the search on test ({won['test']:.4f} vs "
                     f"{won['best_trial_test']:.4f})")
    return "; ".join(parts)


def display_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The run list as a person reads it: scores to 4 places, disk in MB, start to the second."""
    if frame.empty:
        return frame
    return frame.assign(
        best_objective=frame["best_objective"].map(_num), test_score=frame["test_score"].map(_num),
        disk_mb=frame["disk_mb"].map(lambda v: f"{v:.1f}"), started_at=frame["started_at"].map(lambda v: str(v)[:19]),
    ).drop(columns=["duration_s"])


def text_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no rows)"
    cols = list(frame.columns)
    widths = [max(len(str(c)), *(len(str(v)) for v in frame[c])) for c in cols]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def records_json(frame: pd.DataFrame) -> str:
    """Rows as JSON objects with every float exact (pandas' writer keeps 15 digits at most), times in ISO 8601
    and missing values as null."""
    import json

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: None if pd.isna(t) else t.isoformat(timespec="microseconds"))
    rows = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return json.dumps(rows, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n"


def render(frame: pd.DataFrame, fmt: str = "table") -> str:
    """A leaderboard in one of ``FORMATS``; CSV and JSON keep every column, machine-readable."""
    if fmt == "table":
        return text_table(display_frame(frame))
    if fmt == "markdown":
        return markdown_table(display_frame(frame))
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return records_json(frame)
    raise ViewError(f"--format '{fmt}' is unknown; use one of {', '.join(FORMATS)}.")
