"""Real (tiny) AutoKeras searches, recorded in a real SQLite tracker."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

from autosearch.config import TUNERS, load_pipeline
from autosearch.data import prepare_data
from autosearch.tracking import RunStatus, TrialKind, TrialState
from autosearch.tracking.selection import candidate_of, choose
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning.policy import trial_seed
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search
# ensembles off: these claims are about trials and the best trial (an exported ensemble is not one: its scores
# are not its best member's); tests/test_ensemble_search.py searches with them
TINY = {"data.max_rows": 300, "search.max_trials": 2, "search.epochs": 1, "search.ensemble": "off"}


def tiny(task: str = "text", **overrides):
    return load_pipeline(PIPELINES / f"{task}.toml", {**TINY, **overrides})


@pytest.mark.parametrize("tuner", TUNERS)
def test_every_tuner_records_run_trials_and_epochs(tuner: str, home: Path) -> None:
    cfg = tiny(**{"search.tuner": tuner})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)

    run = tracker.get_run(result.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.fingerprint == prepare_data(cfg).fingerprint
    assert run.environment["versions"]["autokeras"] == "3.0.0"
    assert run.environment["versions"]["keras"].startswith("3.12")
    assert run.environment["versions"]["tensorflow"] and run.environment["machine"]["cpu_count"]
    assert run.config["search"]["tuner"] == tuner
    assert run.data["rows"] == {"train": 210, "validation": 30, "test": 60}

    trials = [t for t in tracker.list_trials(result.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    assert len(trials) == 2
    for trial in trials:
        assert trial.state is TrialState.COMPLETED, trial.error
        assert trial.trial_id.startswith(result.run_id + "/")
        family = trial.hyperparameters["text_block/family"]  # a family's own values, recorded when it is active
        assert ("text_block/linear_weighting" if family == "linear" else "text_block/embedding_dim") in \
            trial.hyperparameters
        assert trial.hyperparameters["optimizer"] == "adam"
        assert [e.epoch for e in trial.epochs] == [0]
        assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(trial.epochs[0].metrics)
        assert trial.objective == trial.epochs[0].metrics["val_accuracy"]
        assert trial.duration > 0 and trial.trainable_params > 0
        assert trial.seed == trial_seed(0, trial.keras_trial_id)


def test_saved_best_model_scores_what_its_trial_recorded(home: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(tiny(**{"search.epochs": 2}), tracker, home)
    run = tracker.get_run(result.run_id)
    best = tracker.get_trial(run.best_trial_id)
    searched = [t for t in tracker.list_trials(result.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    rule = choose([c for t in searched if (c := candidate_of(t, run.objective, 30))], run.direction)
    assert best.trial_id == rule.trial_id  # the selection rule's pick (tracking.selection), not merely the top score
    assert run.summary["scores"]["validation"] == pytest.approx(best.objective, abs=1e-6)
    test_preds = pd.read_csv(result.run_dir / "predictions" / "test.csv")
    assert len(test_preds) == 60 and {"y_true", "y_pred", "p_fresh", "p_rotten"} <= set(test_preds.columns)
    assert (test_preds.y_true == test_preds.y_pred).mean() == pytest.approx(run.summary["scores"]["test"])
    assert tensorboard_tags(result.run_dir / "tensorboard") >= {"epoch_loss", "epoch_accuracy"}, \
        "TensorBoard logs hold each epoch's metrics"


def tensorboard_tags(log_dir: Path) -> set[str]:
    """The scalar tags of every TensorBoard event file under ``log_dir``."""
    import tensorflow as tf

    return {value.tag for path in log_dir.rglob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value}


def test_tensorboard_callbacks_skip_keras_per_batch_summaries_and_keep_the_epochs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' TensorBoard calls tf.summary.scalar for each batch's metrics when only epochs are written; ours
    does not call it, and writes the same epoch summaries."""
    import keras
    import numpy as np

    from autosearch.tuning.automodel import tensorboard

    x, y = np.random.default_rng(0).random((64, 4)), np.arange(64) % 2
    calls: dict[str, list[str]] = {}
    for name, make in (("keras", lambda d: keras.callbacks.TensorBoard(log_dir=str(d))), ("ours", tensorboard)):
        callback, seen = make(tmp_path / name), []
        calls[name] = seen
        summary = callback.summary  # tf.summary: patched for this fit only
        with monkeypatch.context() as patch:
            original = summary.scalar
            patch.setattr(summary, "scalar", lambda tag, *a, _o=original, _s=seen, **k: (_s.append(tag), _o(tag, *a, **k))[1])
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
            model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    assert sum(t.startswith("batch_") for t in calls["keras"]) == 16 * 2  # 8 batches x 2 epochs x (loss, accuracy)
    assert not any(t.startswith("batch_") for t in calls["ours"])
    assert tensorboard_tags(tmp_path / "ours") == tensorboard_tags(tmp_path / "keras") >= {"epoch_loss"}


def test_time_budget_stops_the_search(home: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(tiny(**{"search.max_trials": 5, "search.epochs": 3, "search.time_budget": "1s"}),
                        tracker, home)
    trials = [t for t in tracker.list_trials(result.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    assert len(trials) == 1 and len(trials[0].epochs) == 1
    assert tracker.get_run(result.run_id).status is RunStatus.COMPLETED


def test_a_search_where_no_model_fits_fails_with_the_reason(home: Path) -> None:
    from autosearch.errors import SearchError

    tracker = SQLiteTracker(home / "tracker.db")
    with pytest.raises(SearchError, match="no trial completed.*Oversized model"):
        run_search(tiny(**{"search.max_model_size": 1000}), tracker, home)
    (run,) = tracker.list_runs()
    assert run.status is RunStatus.FAILED and "Oversized model" in run.summary["error"]
    assert all(t.state.is_finished() for t in tracker.list_trials(run.run_id))


@pytest.mark.parametrize("task, metric", [
    ("image", "accuracy"), ("structured", "accuracy"), ("structured_regression", "mean_absolute_error")])
def test_cli_search_on_each_embedded_task(task: str, metric: str, cli, home: Path) -> None:
    res = cli("search", "--pipeline", task, "--max-trials", "2", "--epochs", "2", "--ensemble", "off",
              "--max-rows", "300")
    assert res.code == 0, res.err[-2000:]
    assert f"test {metric}" in res.out and "baseline" in res.out
    assert "TensorBoard: tensorboard --logdir" in res.out
    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    assert run.status is RunStatus.COMPLETED and run.task.startswith(task.split("_")[0])
    assert f"Run {run.run_id}" in res.out


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_mark_the_running_trial_and_the_run_interrupted(signum: int, code: int,
                                                                          home: Path) -> None:
    import os
    import sqlite3
    import subprocess
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "autosearch", "search", "--max-rows", "300", "--max-trials", "1", "--epochs", "500",
         "--patience", "0", "--quiet"], cwd=ROOT, env={**os.environ, "AUTOSEARCH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the first epoch is recorded
        time.sleep(0.5)
        db = home / "tracker.db"
        try:
            if db.exists() and sqlite3.connect(db).execute("SELECT count(*) FROM epochs").fetchone()[0]:
                break
        except sqlite3.OperationalError:  # the search has not created its tables yet
            continue
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "marked INTERRUPTED" in err
    tracker = SQLiteTracker(home / "tracker.db")
    (run,) = tracker.list_runs()
    assert run.status is RunStatus.INTERRUPTED
    (trial,) = [t for t in tracker.list_trials(run.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    assert trial.state is TrialState.INTERRUPTED and trial.epochs
