"""Resume makes the tracker agree with KerasTuner: a trial KerasTuner finished is COMPLETED in the tracker.

What the crash matrix found (seed 21, with the held-lock fault): a SIGKILL between KerasTuner's end of a
trial (``trial.json`` COMPLETED) and the tracker's left the row RUNNING; resume closed it INTERRUPTED while
KerasTuner, which never re-runs a finished trial, counted it done, and the run completed 1 of its 2 trials.
Here the state that kill left is built with a real tracker and KerasTuner's own file format.
"""

from __future__ import annotations

import json
from pathlib import Path

from autosearch.tracking import EpochMetrics, RunInfo, TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning.resume import record_finished_trainings

RUN = "20261203-143724-c136"


def trial(local: str, keras_id: str, started: float) -> TrialRecord:
    return TrialRecord(trial_id=f"{RUN}/{local}", run_id=RUN, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
                       hyperparameters={"units": 32}, seed=1, started_at=started, extra={"keras_trial_id": keras_id})


def kerastuner_says(project: Path, keras_id: str, status: str) -> None:
    folder = project / f"trial_{keras_id}"
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"trial_id": keras_id, "status": status}))


def test_a_trial_kerastuner_finished_but_the_tracker_holds_running_is_recorded_completed_before_the_restart(
        tmp_path: Path) -> None:
    tracker = SQLiteTracker(tmp_path / "tracker.db")
    tracker.start_run(RunInfo(run_id=RUN, pipeline="structured", task="structured_classification",
                              dataset="breast_cancer", seed=1, started_at=100.0,
                              heartbeat={"pid": 999_999_999, "host": "elsewhere", "at": 100.0}))  # a dead process
    for local, keras_id, accuracies in (("0", "0", [0.7, 0.8]), ("1", "1", [0.6, 0.9, 0.85]), ("2", "2", [0.5])):
        tracker.log_trial(trial(local, keras_id, 101.0 + int(keras_id)))
        for epoch, acc in enumerate(accuracies):
            tracker.log_epoch(f"{RUN}/{local}", EpochMetrics(epoch, {"val_accuracy": acc, "loss": 0.3}, 110.0 + epoch))
    tracker.finish_trial(f"{RUN}/0", TrialState.COMPLETED, ended_at=120.0, objective=0.8, best_epoch=1)
    project = tmp_path / "runs" / RUN / "autokeras"
    kerastuner_says(project, "0", "COMPLETED")
    kerastuner_says(project, "1", "COMPLETED")  # the kill came after this file, before the tracker's end
    kerastuner_says(project, "2", "RUNNING")  # the kill came during this one: resume re-runs it
    (project.parent / "trials" / "1").mkdir(parents=True)
    (project.parent / "trials" / "1" / "model_summary.txt").write_text("Model\n")

    assert record_finished_trainings(tracker, RUN, project, "val_accuracy", "max") == [f"{RUN}/1"]
    finished = tracker.get_trial(f"{RUN}/1")
    assert finished.state is TrialState.COMPLETED and finished.objective == 0.9 and finished.best_epoch == 1
    assert finished.ended_at == 112.0 and finished.extra["recorded_from"] == "trial.json"
    assert finished.extra["model_summary"] == "trials/1/model_summary.txt"
    assert tracker.get_trial(f"{RUN}/0").objective == 0.8, "a completed row is not touched"
    assert tracker.get_trial(f"{RUN}/2").state is TrialState.INTERRUPTED, "an unfinished one is left to resume"
    restarted = tracker.restart_run(RUN)
    assert restarted.status.value == "RUNNING"
    assert {t.local_id: t.state for t in tracker.list_trials(RUN)} == {
        "0": TrialState.COMPLETED, "1": TrialState.COMPLETED, "2": TrialState.INTERRUPTED}
    assert record_finished_trainings(tracker, RUN, project, "val_accuracy", "max") == [], "done once"
