"""Several processes on one tracker: busy locks wait with a deadline, concurrent writers lose nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest
from trackerkit import RUN_ID, make_run, make_trial

from autosearch.errors import TrackerError, TrackerLockedError
from autosearch.tracking import RunStatus, TrialState, get_tracker
from autosearch.tracking.liveness import this_host
from autosearch.tracking.sqlite import SQLiteTracker

WORKERS, WRITES = 8, 2_000
ROOT = Path(__file__).resolve().parents[2]

HOLD_SQLITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
sys.stdin.readline()
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold(script: str, *args: str, before: Callable[[int], None] = lambda pid: None) -> subprocess.Popen:
    """Start a process, call ``before(its pid)``, let it take a lock, and return once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    before(proc.pid)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_sqlite_write_lock_held_past_the_deadline_fails_with_one_line_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    tracker = SQLiteTracker(db, lock_timeout_s=0.5)
    tracker.start_run(make_run())
    # the holder beats for the run, as a search would: the message names the run too
    holder = hold(HOLD_SQLITE_LOCK, str(db), "8", before=lambda pid: tracker.heartbeat(
        RUN_ID, pid=pid, host=this_host(), at=time.time()))
    try:
        t0 = time.monotonic()
        with pytest.raises(TrackerLockedError) as info:  # the lock error, which the search journals
            tracker.log_trial(make_trial())
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    message = str(info.value)
    assert 0.4 < waited < 5, waited
    assert f"the write lock on {db} is held for over 0.5 s by process {holder.pid} (" in message, message
    assert "python -c import sqlite3, sys, time" in message and f"), run {RUN_ID}; wait" in message, message
    assert "AUTOSEARCH_LOCK_TIMEOUT" in message and "\n" not in message
    tracker.log_trial(make_trial())  # the holder is gone: writes go through again
    # and the process that last beat for the run is gone too, so the run reads INTERRUPTED
    assert tracker.get_trial(f"{RUN_ID}/0").state is TrialState.INTERRUPTED


def test_a_sqlite_write_waits_for_a_shorter_lock_and_then_succeeds(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_LOCK_TIMEOUT", "20")
    db = tmp_path / "tracker.db"
    tracker = SQLiteTracker(db)
    assert tracker.lock_timeout == 20
    tracker.start_run(make_run())
    holder = hold(HOLD_SQLITE_LOCK, str(db), "1.5")
    t0 = time.monotonic()
    tracker.log_trial(make_trial())
    waited = time.monotonic() - t0
    assert holder.wait(10) == 0
    assert waited > 1.0, waited
    assert tracker.get_trial(f"{RUN_ID}/0").state is TrialState.RUNNING


def test_a_bad_lock_timeout_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_LOCK_TIMEOUT", "soon")
    with pytest.raises(TrackerError, match="AUTOSEARCH_LOCK_TIMEOUT='soon' is not a number of seconds"):
        SQLiteTracker(tmp_path / "t.db")


HOLD_PG_ROW = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], application_name="row-holder-test")
conn.execute("SELECT * FROM runs WHERE run_id=%s FOR UPDATE", (sys.argv[2],))
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
conn.commit()
"""


def test_a_postgresql_row_lock_held_past_the_deadline_fails_with_one_line_naming_the_holder(pg_uri: str) -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    tracker = PostgreSQLTracker(pg_uri, lock_timeout_s=0.5)
    tracker.start_run(make_run())
    holder = hold(HOLD_PG_ROW, pg_uri, RUN_ID, "8")
    try:
        t0 = time.monotonic()
        with pytest.raises(TrackerLockedError) as info:
            tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=2000.0)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    message = str(info.value)
    assert 0.4 < waited < 5, waited
    assert "is held for over 0.5 s by row-holder-test" in message and "\n" not in message, message
    tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=2000.0)
    assert tracker.get_run(RUN_ID).status is RunStatus.COMPLETED


WRITER = textwrap.dedent("""
    import sys
    from autosearch.tracking import TrialKind, TrialRecord, TrialState, get_tracker
    uri, run_id, worker, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    tracker = get_tracker(uri)
    for i in range(n):
        tid = f"{run_id}/{worker}-{i}"
        tracker.log_trial(TrialRecord(trial_id=tid, run_id=run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
                                      hyperparameters={"worker": worker, "i": i}, seed=i, started_at=float(i)))
        tracker.finish_trial(tid, TrialState.COMPLETED, ended_at=i + 0.5, objective=i / n, extra={"worker": worker})
    tracker.close()
""")


def many_writers(uri: str, writes: int = WRITES) -> float:
    """WORKERS processes, each logging and finishing ``writes`` trials of one run; returns trial writes/s."""
    with get_tracker(uri) as tracker:
        tracker.start_run(make_run())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOSEARCH_LOCK_TIMEOUT": "120"}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, uri, RUN_ID, str(w), str(writes)], env=env,
                              stderr=subprocess.PIPE, text=True) for w in range(WORKERS)]
    errors = [p.communicate(timeout=900)[1] for p in procs]
    elapsed = time.perf_counter() - t0
    assert [p.returncode for p in procs] == [0] * WORKERS, errors
    with get_tracker(uri) as tracker:
        trials = tracker.list_trials(RUN_ID)
    assert len(trials) == WORKERS * writes == len({t.trial_id for t in trials})
    assert all(t.state is TrialState.COMPLETED and t.extra == {"worker": t.hyperparameters["worker"]} for t in trials)
    rate = 2 * WORKERS * writes / elapsed
    print(f"\n{uri.split(':')[0]}: {WORKERS} processes x {writes} trials (log_trial + finish_trial) in {elapsed:.1f} s:"
          f" {rate:.0f} writes/s")
    return rate


def test_eight_processes_writing_trials_to_sqlite_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    many_writers(f"sqlite:///{db}")
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_eight_processes_writing_trials_to_postgresql_lose_nothing(pg_uri: str) -> None:
    many_writers(pg_uri)


OPEN_V1 = "import sys; from autosearch.tracking import get_tracker; get_tracker(sys.argv[1]).list_runs()"


def test_processes_opening_an_old_tracker_at_once_migrate_it_once(tmp_path: Path) -> None:
    from test_schema_versions import write_v1_sqlite

    db = tmp_path / "tracker.db"
    write_v1_sqlite(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_V1, f"sqlite:///{db}"], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert sum("migrated tracker" in e for e in errors) == 1, errors
