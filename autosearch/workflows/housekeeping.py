"""Delete runs and clean up: tracker rows and run directories together.

Not a view: views only read. ``autosearch rm`` and ``autosearch gc`` call these.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from autosearch.errors import TrackerError, UnknownTrialError
from autosearch.tracking import RunInfo, RunStatus, Tracker, TrialKind, TrialState, autosearch_home
from autosearch.tracking.records import split_trial_id
from autosearch.tuning.checkpoints import PROJECT


def _owned_dir(run: RunInfo) -> Path | None:
    """The run's directory if it lies under this ``AUTOSEARCH_HOME``'s ``runs/`` (else None: a copied or moved
    home may still record another home's absolute paths, and those are not ours to delete)."""
    path = run.run_dir
    if path is None:
        return None
    runs = (autosearch_home() / "runs").resolve()
    resolved = path.resolve()
    return resolved if resolved.parent == runs else None


def delete_run(tracker: Tracker, run_id: str) -> Path | None:
    """Remove a run's directory and its tracker rows (trials and epochs included); refuses a live run."""
    run = tracker.get_run(run_id)
    if run.status is RunStatus.RUNNING:
        raise TrackerError(f"run {run_id} is still running{_where(run)}; stop it first (Ctrl-C or kill), "
                           "then delete it.")
    path = _owned_dir(run)
    tracker.delete_run(run_id)
    if path is not None and path.exists():
        shutil.rmtree(path)
    return path


def _where(run: RunInfo) -> str:
    beat = run.heartbeat or {}  # the last beat of the process running it
    return f" (process {beat['pid']} on {beat['host']})" if beat.get("pid") else ""


@dataclass(frozen=True)
class GcPlan:
    runs: list[str]  # failed or interrupted runs with no completed trial: deleted whole
    checkpoints: list[Path]  # trial weights of completed runs

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.checkpoints if p.exists())


def gc_plan(tracker: Tracker, keep_best: bool) -> GcPlan:
    """What ``gc`` would delete: FAILED/INTERRUPTED runs with no completed trial, and the trial checkpoints
    of completed runs (but the best's with ``keep_best``).

    A stopped run with completed trials is kept whole: its trials are results, and
    ``autosearch resume`` needs its files. Bundles and tracker rows of kept runs stay.
    """
    runs = tracker.list_runs()
    with_results = {t.run_id for t in tracker.find_trials(
        [r.run_id for r in runs], states=[TrialState.COMPLETED], kinds=[TrialKind.SEARCH])} if runs else set()
    dead, checkpoints = [], []
    for run in runs:
        if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            if run.run_id not in with_results:
                dead.append(run.run_id)
            continue
        path = _owned_dir(run)
        if path is None or run.status is not RunStatus.COMPLETED:
            continue
        best = _exported_trials(tracker, run.best_trial_id) if run.best_trial_id else set()
        for ckpt in sorted((path / PROJECT).glob("trial_*/checkpoint.weights.h5")):
            if keep_best and ckpt.parent.name.removeprefix("trial_") in best:
                continue
            checkpoints.append(ckpt)
    return GcPlan(dead, checkpoints)


def _exported_trials(tracker: Tracker, best_trial_id: str) -> set[str]:
    """The KerasTuner ids whose checkpoints rebuild a run's exported model: its best trial's, or the members
    of the ensemble it exported."""
    try:
        best = tracker.get_trial(best_trial_id, with_epochs=False)
    except UnknownTrialError:  # its rows gone: the id still names the trial's folder
        return {split_trial_id(best_trial_id)[1]}
    if best.kind is TrialKind.ENSEMBLE:
        return {str(m["keras_trial_id"]) for m in best.extra.get("members", [])}
    return {split_trial_id(best_trial_id)[1]}


def apply_gc(tracker: Tracker, plan: GcPlan) -> None:
    for run_id in plan.runs:
        delete_run(tracker, run_id)
    for ckpt in plan.checkpoints:
        ckpt.unlink(missing_ok=True)
