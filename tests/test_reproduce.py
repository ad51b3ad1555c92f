"""Reproducing a trial by its id, in a new process, from its recorded hyperparameters and seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

import autosearch
from autosearch.config import load_pipeline
from autosearch.data.embedded import load_rotten_tomatoes
from autosearch.tracking import TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.reproduce import environment_drift
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"})


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-tuner search on a CSV of 300 real reviews (so a test can change the file)."""
    home = tmp_path_factory.mktemp("repro_home")
    texts, labels = load_rotten_tomatoes()
    data = home / "reviews.csv"
    pd.DataFrame({"text": texts, "label": labels}).sample(300, random_state=0).to_csv(data, index=False)
    cfg = load_pipeline(PIPELINES / "text.toml", {"data.dataset": str(data), "search.max_trials": 2,
                                                  "search.epochs": 2, "search.tuner": "random",
                                                  "search.ensemble": "off"})  # the best is a trial to reproduce
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home, export=False)
    return home, tracker, result, data


def test_best_trial_reproduces_in_a_new_process_with_the_same_objective_and_losses(searched) -> None:
    home, tracker, result, _ = searched
    res = cli(home, "reproduce", result.best_trial_id)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "HOLDS" in res.stdout
    original = tracker.get_trial(result.best_trial_id)
    (copy,) = [t for t in tracker.find_trials([result.run_id], kinds=[TrialKind.REPRODUCTION])
               if t.reproduces == original.trial_id]
    copy = tracker.get_trial(copy.trial_id)
    assert copy.trial_id == f"{original.trial_id}-r1" and copy.state is TrialState.COMPLETED
    assert copy.objective == pytest.approx(original.objective, abs=1e-6)
    assert [e.metrics["loss"] for e in copy.epochs] == pytest.approx([e.metrics["loss"] for e in original.epochs],
                                                                     abs=1e-6)
    assert copy.seed == original.seed and copy.hyperparameters == original.hyperparameters
    board = autosearch.leaderboard(result.run_id, tracker=tracker)
    row = board.set_index("trial_id").loc[copy.trial_id]
    assert row["kind"] == "reproduction" and row["reproduces"] == original.trial_id


def test_unknown_id_exits_2_and_suggests_close_ids(searched) -> None:
    home, _, result, _ = searched
    res = cli(home, "reproduce", f"{result.run_id}/7")
    assert res.returncode == 2
    assert f"closest known ids: {result.run_id}/" in res.stderr


def test_warm_started_hyperband_trials_are_refused_with_the_reason(searched) -> None:
    home, tracker, result, _ = searched
    parent = tracker.get_trial(result.best_trial_id)
    child = TrialRecord(
        trial_id=f"{result.run_id}/hb", run_id=result.run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
        hyperparameters={**parent.hyperparameters, "tuner/trial_id": parent.keras_trial_id,
                         "tuner/initial_epoch": 1, "tuner/epochs": 2},
        seed=1, started_at=parent.started_at, epochs=parent.epochs)
    tracker.log_trial(child)
    tracker.finish_trial(child.trial_id, TrialState.COMPLETED, ended_at=parent.started_at + 1, objective=0.5)
    res = cli(home, "reproduce", child.trial_id)
    assert res.returncode == 2 and "warm-started by Hyperband" in res.stderr


def test_changed_data_is_refused_unless_allowed(searched) -> None:
    home, tracker, result, data = searched
    original = data.read_text()
    frame = pd.read_csv(data)
    frame.loc[0, "text"] = frame.loc[0, "text"] + " (edited)"
    frame.to_csv(data, index=False)
    try:
        trial = next(t for t in tracker.find_trials([result.run_id], kinds=[TrialKind.SEARCH])
                     if t.trial_id != result.best_trial_id and t.state is TrialState.COMPLETED
                     and "tuner/trial_id" not in t.hyperparameters)
        res = cli(home, "reproduce", trial.trial_id)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr[-2000:]
        assert res.stderr.startswith(f"DataError: the data of run {result.run_id} changed since it was recorded "
                                     "(fingerprint now ") and "--allow-data-change" in res.stderr
        res = cli(home, "reproduce", trial.trial_id, "--allow-data-change")
        assert res.returncode in (0, 1), res.stderr[-2000:]
        assert "CHANGED" in res.stdout
        copy = tracker.get_trial(f"{trial.trial_id}-r1")
        assert copy.extra["data_changed_allowed"] is True
    finally:
        data.write_text(original)


def test_environment_drift_names_what_changed() -> None:
    recorded = {"versions": {"keras": "3.12.0", "numpy": "2.4.6"}, "machine": {"cpu_count": 2, "host": "a"}}
    now = {"versions": {"keras": "3.12.4", "numpy": "2.4.6"}, "machine": {"cpu_count": 8, "host": "a"}}
    assert environment_drift(recorded, now) == {"versions.keras": ["3.12.0", "3.12.4"],
                                                "machine.cpu_count": [2, 8]}
