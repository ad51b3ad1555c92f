"""List, delete and clean up runs: tracker rows and run directories together."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autosearch.tracking import RunStatus, Tracker, TrialKind


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
        scores = run.summary.get("scores", {})
        rows.append({
            "run_id": run.run_id, "pipeline": run.pipeline, "task": run.task, "dataset": run.dataset,
            "status": run.status.value, "objective_name": run.config.get("search", {}).get("objective"),
            "best_objective": run.summary.get("best_objective"), "test_metric": scores.get("metric"),
            "test_score": scores.get("test"), "trials": counts.get(run.run_id, 0),
            "started_at": pd.to_datetime(run.started_at, unit="s", utc=True),
            "duration_s": run.summary.get("duration"), "disk_mb": disk_use(run.run_dir) / 2**20,
        })
    return pd.DataFrame(rows)


def delete_run(tracker: Tracker, run_id: str) -> Path | None:
    """Remove a run's directory and its tracker rows (trials and epochs included)."""
    run = tracker.get_run(run_id)
    path = run.run_dir
    tracker.delete_run(run_id)
    if path is not None and path.exists():
        shutil.rmtree(path)
    return path


@dataclass(frozen=True)
class GcPlan:
    runs: list[str]  # failed or interrupted runs: deleted whole
    checkpoints: list[Path]  # trial weights of the other runs

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.checkpoints if p.exists())


def gc_plan(tracker: Tracker, keep_best: bool) -> GcPlan:
    """What ``gc`` would delete: FAILED/INTERRUPTED runs, and trial checkpoints (but the best's with ``keep_best``).

    Checkpoints are what re-exporting a trial needs; a run's exported bundle and
    its tracker rows stay.
    """
    dead, checkpoints = [], []
    for run in tracker.list_runs():
        if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            dead.append(run.run_id)
            continue
        path = run.run_dir
        if path is None or run.status is RunStatus.RUNNING:
            continue
        best = run.best_trial_id.split("/", 1)[1] if run.best_trial_id else None
        for ckpt in sorted((path / "autokeras").glob("trial_*/checkpoint.weights.h5")):
            if keep_best and ckpt.parent.name == f"trial_{best}":
                continue
            checkpoints.append(ckpt)
    return GcPlan(dead, checkpoints)


def apply_gc(tracker: Tracker, plan: GcPlan) -> None:
    for run_id in plan.runs:
        delete_run(tracker, run_id)
    for ckpt in plan.checkpoints:
        ckpt.unlink(missing_ok=True)
