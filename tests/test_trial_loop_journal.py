"""Every driver of the trial loop writes its trials through the tracker journal: a reproduction whose
tracker's write lock another process holds loses no record (before issue 20 only a search journalled)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import PIPELINES
from lockholder import Holder

from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.tracking import TrialKind, TrialRecord, TrialState
from autosearch.tracking.journal import JOURNAL
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning.reproduction import train_trial_again
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search


def _release_once_journalled(holder: Holder, journal: Path, stop: threading.Event) -> None:
    """Keep the lock until a write waits in ``journal`` (or ``stop``), then free it."""
    while not stop.is_set() and not (journal.exists() and journal.stat().st_size):
        time.sleep(0.05)
    holder.release()


def test_a_reproduction_under_a_held_tracker_lock_is_journalled_and_recorded_whole(tmp_path: Path, monkeypatch):
    cfg = load_pipeline(PIPELINES / "structured.toml", {"data.max_rows": 300, "search.max_trials": 1,
                                                        "search.epochs": 2, "search.baselines": False})
    db = tmp_path / "tracker.db"
    tracker = SQLiteTracker(db)
    result = run_search(cfg, tracker, tmp_path, export=False)
    original = tracker.get_trial(result.best_trial_id)
    record = TrialRecord(trial_id=f"{original.trial_id}-r1", run_id=original.run_id, kind=TrialKind.REPRODUCTION,
                         state=TrialState.RUNNING, hyperparameters=dict(original.hyperparameters),
                         seed=original.seed, started_at=time.time(), reproduces=original.trial_id)
    workdir = result.run_dir / "reproductions" / "lock-r1"
    monkeypatch.setenv("AUTOSEARCH_LOCK_TIMEOUT", "0.5")
    locked = SQLiteTracker(db)
    stop = threading.Event()
    with Holder(db) as holder:
        freer = threading.Thread(target=_release_once_journalled, args=(holder, workdir / JOURNAL, stop))
        freer.start()
        try:
            train_trial_again(cfg, prepare_data(cfg), locked, record, 2, workdir)
        finally:
            stop.set()
            freer.join()
    assert (workdir / JOURNAL).stat().st_size, "the lock was held when the trial began: its writes were journalled"
    copy = tracker.get_trial(record.trial_id)
    assert copy.state is TrialState.COMPLETED and copy.kind is TrialKind.REPRODUCTION
    assert [e.epoch for e in copy.epochs] == [0, 1]
