"""Delete runs and clean up: tracker rows and run directories together.

Not a view: views only read. ``autosearch rm`` and ``autosearch gc`` call these.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from autosearch.tracking import RunStatus, Tracker
from autosearch.tracking.records import split_trial_id


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
        best = split_trial_id(run.best_trial_id)[1] if run.best_trial_id else None
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
