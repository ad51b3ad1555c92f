"""The run list: one row per run (no TensorFlow; pandas only for ``runs_frame``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from autosearch.tracking import Tracker, TrialKind

if TYPE_CHECKING:
    import pandas as pd


def disk_use(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def runs_rows(tracker: Tracker) -> list[dict[str, Any]]:
    """One row per run, newest first: id, pipeline, data set, status, best objective, test score, search trials,
    start (seconds since the epoch), duration, disk use."""
    runs = tracker.list_runs()
    counts = tracker.trial_counts([r.run_id for r in runs], kinds=[TrialKind.SEARCH]) if runs else {}
    return [{
        "run_id": run.run_id, "pipeline": run.pipeline, "task": run.task, "dataset": run.dataset,
        "status": run.status.value, "objective_name": run.objective,
        "best_objective": run.best_objective, "test_metric": run.scores.get("metric"),
        "test_score": run.scores.get("test"), "trials": counts.get(run.run_id, 0),
        "started_at": run.started_at, "duration_s": run.duration, "disk_mb": disk_use(run.run_dir) / 2**20,
    } for run in runs]


def runs_frame(tracker: Tracker) -> "pd.DataFrame":
    """``runs_rows`` as a DataFrame, the start as a UTC timestamp."""
    import pandas as pd

    frame = pd.DataFrame(runs_rows(tracker))
    if not frame.empty:
        frame["started_at"] = pd.to_datetime(frame["started_at"], unit="s", utc=True)
    return frame
