"""A held tracker write lock costs a search no trial record: journalled beside the run, written when it frees."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from lockholder import Holder
from trackerkit import RUN_ID, make_run, make_trial

from autosearch.errors import TrackerLockedError, UnknownTrialError
from autosearch.tracking import EpochMetrics, TrialState
from autosearch.tracking.journal import JOURNAL, Journal, JournalledWriter, apply, replay_journal
from autosearch.tracking.sqlite import SQLiteTracker

TRIAL = f"{RUN_ID}/0"


def stored_states(db: Path) -> dict[str, str]:
    """The trial rows as stored, read with the standard library (no liveness)."""
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT trial_id, state FROM trials"))
    finally:
        con.close()


def write_one_trial(writer: JournalledWriter, epochs: int = 3) -> None:
    writer.log_trial(make_trial())
    for e in range(epochs):
        writer.log_epoch(TRIAL, EpochMetrics(e, {"val_accuracy": 0.5 + e / 10}, 1002.0 + e))
    writer.finish_trial(TRIAL, TrialState.COMPLETED, ended_at=1010.0, objective=0.7, best_epoch=2,
                        extra={"keras_tuner_status": "COMPLETED"})


@pytest.fixture
def tracker(tmp_path: Path) -> SQLiteTracker:
    tracker = SQLiteTracker(tmp_path / "tracker.db", lock_timeout_s=0.3)
    tracker.start_run(make_run())
    return tracker


def test_trial_writes_during_a_held_lock_are_journalled_without_failing_and_recorded_when_it_frees(
        tracker: SQLiteTracker, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    writer = JournalledWriter(tracker, tmp_path / JOURNAL, RUN_ID)
    holder = Holder(tracker.path)
    try:
        t0 = time.monotonic()
        write_one_trial(writer)  # would raise TrackerLockedError after 0.3 s without the journal
        waited = time.monotonic() - t0
        assert waited < 2.0, "only the first write waits for the lock; the rest queue behind it"
        assert stored_states(tracker.path) == {}, "the lock is held: nothing reached the database"
        assert [op for _, op, _ in Journal(tmp_path / JOURNAL).pending()] == [
            "log_trial", "log_epoch", "log_epoch", "log_epoch", "finish_trial"]
    finally:
        holder.release()
    deadline = time.monotonic() + 30
    while stored_states(tracker.path) != {TRIAL: "COMPLETED"}:  # written by then, without being asked
        assert time.monotonic() < deadline, "the journal was not written when the lock freed"
        time.sleep(0.05)
    writer.settle(timeout=30)
    trial = tracker.get_trial(TRIAL)
    assert trial.state is TrialState.COMPLETED and trial.objective == 0.7 and trial.best_epoch == 2
    assert [e.epoch for e in trial.epochs] == [0, 1, 2] and trial.extra["keras_tuner_status"] == "COMPLETED"
    assert Journal(tmp_path / JOURNAL).pending() == []
    err = capfd.readouterr().err
    assert f"kept in {tmp_path / JOURNAL}" in err and f"autosearch resume {RUN_ID}" in err
    with pytest.raises(UnknownTrialError):  # with the queue empty, other errors are the tracker's own, at once
        writer.log_epoch(f"{RUN_ID}/9", EpochMetrics(0, {}, 1.0))


def test_a_lock_that_outlasts_the_search_leaves_the_records_for_resume_which_writes_them(
        tracker: SQLiteTracker, tmp_path: Path) -> None:
    writer = JournalledWriter(tracker, tmp_path / JOURNAL, RUN_ID)
    holder = Holder(tracker.path)
    try:
        write_one_trial(writer, epochs=1)
        with pytest.raises(TrackerLockedError) as info:
            writer.settle(timeout=0.5)
        assert str(tmp_path / JOURNAL) in str(info.value) and f"autosearch resume {RUN_ID}" in str(info.value)
        assert "\n" not in str(info.value)
        with pytest.raises(TrackerLockedError):  # resume while the lock is still held: nothing lost either
            replay_journal(tracker, tmp_path)
    finally:
        holder.release()
    assert stored_states(tracker.path) == {}
    assert replay_journal(tracker, tmp_path) == 3
    assert stored_states(tracker.path) == {TRIAL: "COMPLETED"}
    assert replay_journal(tracker, tmp_path) == 0, "a replayed journal is spent"


def test_replay_is_idempotent_after_a_kill_between_a_write_and_its_mark_and_skips_a_cut_line(
        tracker: SQLiteTracker, tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL)
    journal.pending()
    writes = [("log_trial", {"trial": make_trial().to_dict()}),
              ("log_epoch", {"trial_id": TRIAL, "epoch": EpochMetrics(0, {"val_accuracy": 0.6}, 1.0).to_dict()}),
              ("finish_trial", {"trial_id": TRIAL, "state": "COMPLETED", "ended_at": 9.0, "objective": 0.6})]
    for op, args in writes:
        journal.append(op, args)
    for op, args in writes:  # the writes went through, the process died before marking them
        apply(tracker, op, args, replay=False)
    with open(tmp_path / JOURNAL, "a") as f:
        f.write('{"n": 4, "op": "log_ep')  # a write a crash cut short never returned: not a write
    assert replay_journal(tracker, tmp_path) == 3
    trial = tracker.get_trial(TRIAL)
    assert trial.state is TrialState.COMPLETED and trial.objective == 0.6 and len(trial.epochs) == 1
    later = Journal(tmp_path / JOURNAL)
    assert later.pending() == []
    later.append("log_epoch", {"trial_id": TRIAL, "epoch": EpochMetrics(1, {}, 2.0).to_dict()})
    assert [n for n, _, _ in Journal(tmp_path / JOURNAL).pending()] == [4], "a new line after the cut one"
