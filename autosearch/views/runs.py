"""The run list: one row per run (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autosearch.tracking import Tracker, TrialKind


def disk_use(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def runs_frame(tracker: Tracker) -> pd.DataFrame:
    """One row per run: id, pipeline, data set, status, best objective, test score, trials, disk use."""
    rows = []
    runs = tracker.list_runs()
    trials = tracker.find_trials([r.run_id for r in runs], kinds=[TrialKind.SEARCH]) if runs else []
    counts = pd.Series([t.run_id for t in trials]).value_counts().to_dict() if trials else {}
    for run in runs:
        rows.append({
            "run_id": run.run_id, "pipeline": run.pipeline, "task": run.task, "dataset": run.dataset,
            "status": run.status.value, "objective_name": run.objective,
            "best_objective": run.best_objective, "test_metric": run.scores.get("metric"),
            "test_score": run.scores.get("test"), "trials": counts.get(run.run_id, 0),
            "started_at": pd.to_datetime(run.started_at, unit="s", utc=True),
            "duration_s": run.duration, "disk_mb": disk_use(run.run_dir) / 2**20,
        })
    return pd.DataFrame(rows)
