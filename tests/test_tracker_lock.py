"""Another process holding the tracker's write lock past AUTOSEARCH_LOCK_TIMEOUT costs a real search no trial.

Issue 19, item 5: a lock held while a trial trained failed that trial (its epoch writes raised in the Keras
callback) or the whole run, left its row RUNNING, and resume then neither kept its result nor re-ran it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from lockholder import Holder

from autosearch.tracking import RunStatus, TrialKind, TrialState
from autosearch.tracking.journal import JOURNAL, Journal
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search
LOCK_TIMEOUT = 2.0
EPOCHS = 40
# --no-export: the lock's claims end with the trials and the run's record; writing and verifying a bundle (several
# seconds of TensorFlow per search) is proven by the tests of export and resume.
ARGS = ["search", "--pipeline", "structured", "--max-rows", "300", "--max-trials", "3", "--epochs", str(EPOCHS),
        "--patience", "0", "--no-export", "-q"]


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore",
            "AUTOSEARCH_LOCK_TIMEOUT": str(LOCK_TIMEOUT)}


def stored(db: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(run id -> status, trial local id -> state) as stored, before liveness; empty before the tables exist."""
    if not db.exists():
        return {}, {}
    con = sqlite3.connect(db, timeout=30)
    try:
        runs = dict(con.execute("SELECT run_id, status FROM runs"))
        trials = {tid.partition("/")[2]: state for tid, state in
                  con.execute("SELECT trial_id, state FROM trials WHERE kind='search'")}
        return runs, trials
    except sqlite3.OperationalError:
        return {}, {}
    finally:
        con.close()


def keras_status(run_dir: Path, keras_id: str) -> str | None:
    """What KerasTuner's own file says of one trial (None before it exists)."""
    try:
        return json.loads((run_dir / "autokeras" / f"trial_{keras_id}" / "trial.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def wait_for(what: str, ready, proc: subprocess.Popen, timeout: float = 300.0):
    """Poll ``ready()`` until it returns something true; the search must still be running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ready()
        if found:
            return found
        assert proc.poll() is None, f"the search exited ({proc.returncode}) before {what}: {tail(proc)}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(home: Path, err: Path) -> subprocess.Popen:
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "autosearch", *ARGS], cwd=ROOT, env=env(home),
                                stdout=subprocess.DEVNULL, stderr=f)
    proc.err = err  # type: ignore[attr-defined]
    return proc


def tail(proc: subprocess.Popen) -> str:
    return proc.err.read_text(errors="replace")[-2000:]  # type: ignore[attr-defined]


def run_of(home: Path, proc: subprocess.Popen) -> str:
    return wait_for("its run", lambda: next(iter(stored(home / "tracker.db")[0]), None), proc)


def test_a_lock_held_through_a_trial_end_keeps_that_trial_completed_and_the_run_completes(
        home: Path, tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    proc = start(home, err)
    try:
        run_id = run_of(home, proc)
        run_dir = home / "runs" / run_id
        wait_for("trial 1 to begin", lambda: "1" in stored(home / "tracker.db")[1], proc)
        with Holder(home / "tracker.db") as holder:
            locked_at = time.monotonic()
            # KerasTuner starts trial 2 only once trial 1 has ended: its end came while the lock was held
            wait_for("trial 2 to begin", lambda: keras_status(run_dir, "2"), proc)
            assert stored(home / "tracker.db")[1]["1"] == "RUNNING", "the lock held back trial 1's end"
            time.sleep(max(0.0, 3 * LOCK_TIMEOUT - (time.monotonic() - locked_at)))
            holder.release()
        assert proc.wait(timeout=600) == 0, tail(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"kept in {run_dir / JOURNAL}" in err.read_text()
    tracker = SQLiteTracker(home / "tracker.db")
    assert tracker.get_run(run_id).status is RunStatus.COMPLETED
    search = {t.local_id: t for t in tracker.list_trials(run_id, with_epochs=True) if t.kind is TrialKind.SEARCH}
    assert {k: t.state for k, t in search.items()} == {k: TrialState.COMPLETED for k in ("0", "1", "2")}
    locked = search["1"]
    assert len(locked.epochs) == EPOCHS and locked.objective == max(e.metrics["val_accuracy"] for e in locked.epochs)
    assert keras_status(run_dir, "1") == "COMPLETED", "KerasTuner and the tracker agree"
    assert Journal(run_dir / JOURNAL).pending() == []


def test_a_search_killed_while_the_lock_is_held_resumes_to_its_budget_keeping_the_trial_that_finished(
        home: Path, tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    proc = start(home, err)
    try:
        run_id = run_of(home, proc)
        run_dir = home / "runs" / run_id
        wait_for("trial 0 to begin", lambda: "0" in stored(home / "tracker.db")[1], proc)
        with Holder(home / "tracker.db"):
            # trial 0 trains and ends, trial 1 begins and records an epoch, all while the lock is held
            wait_for("trial 1's first epoch in the journal", lambda: any(
                op == "log_epoch" and args["trial_id"] == f"{run_id}/1"
                for _, op, args in Journal(run_dir / JOURNAL).pending()), proc, timeout=300)
            assert keras_status(run_dir, "0") == "COMPLETED"
            proc.kill()  # the search dies with trial 0's end and trial 1 known only to the journal
            proc.wait(timeout=60)
            assert stored(home / "tracker.db")[1] == {"0": "RUNNING"}
    finally:
        if proc.poll() is None:
            proc.kill()
    tracker = SQLiteTracker(home / "tracker.db")
    assert tracker.get_run(run_id).status is RunStatus.INTERRUPTED, "a dead run never reads RUNNING"
    res = subprocess.run([sys.executable, "-m", "autosearch", "resume", run_id, "--no-export", "-q"], cwd=ROOT,
                         env=env(home), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"Run {run_id}: 3 trials" in res.stdout
    tracker = SQLiteTracker(home / "tracker.db")
    assert tracker.get_run(run_id).status is RunStatus.COMPLETED
    search = {t.local_id: t for t in tracker.list_trials(run_id, with_epochs=True) if t.kind is TrialKind.SEARCH}
    assert {k: t.state for k, t in search.items()} == {
        "0": TrialState.COMPLETED, "1": TrialState.INTERRUPTED, "1-a2": TrialState.COMPLETED,
        "2": TrialState.COMPLETED}, "the finished trial kept, the unfinished one re-run once, nothing RUNNING"
    finished = search["0"]
    assert len(finished.epochs) == EPOCHS and finished.objective == max(
        e.metrics["val_accuracy"] for e in finished.epochs), "its result is the training that ran under the lock"
    assert search["1"].extra.get("process_died") and search["1"].epochs, "trial 1's epochs before the kill are kept"
    assert Journal(run_dir / JOURNAL).pending() == []
