"""Records, the composite's fan-out, and the liveness rules on their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trackerkit import RUN_ID, make_run, make_trial

from autosearch.errors import RecordError
from autosearch.tracking import EpochMetrics, RunInfo, TrialRecord, TrialState
from autosearch.tracking.composite import CompositeTracker
from autosearch.tracking.liveness import STALE_AFTER, pid_alive, stopped, this_host
from autosearch.tracking.sqlite import SQLiteTracker

TRIAL = f"{RUN_ID}/0"


def test_composite_writes_reach_every_writer(tmp_path: Path) -> None:
    mirror = SQLiteTracker(tmp_path / "mirror.db")
    with CompositeTracker(SQLiteTracker(tmp_path / "tracker.db"), [mirror]) as tracker:
        tracker.start_run(make_run())
        tracker.log_trial(make_trial())
        tracker.log_epoch(TRIAL, EpochMetrics(0, {"loss": 0.5}, 5.0))
        tracker.finish_trial(TRIAL, TrialState.COMPLETED, ended_at=1011.0, objective=0.7)
        tracker.heartbeat(RUN_ID, pid=os.getpid(), host=this_host(), at=1234.5)
    reopened, primary = SQLiteTracker(tmp_path / "mirror.db"), SQLiteTracker(tmp_path / "tracker.db")
    assert reopened.get_trial(TRIAL) == primary.get_trial(TRIAL)
    assert reopened.get_run(RUN_ID).heartbeat["at"] == primary.get_run(RUN_ID).heartbeat["at"] == 1234.5


def test_records_round_trip_through_dicts() -> None:
    trial = make_trial()
    assert TrialRecord.from_dict(trial.to_dict()) == trial
    run = make_run()
    assert RunInfo.from_dict(run.to_dict()) == run
    with pytest.raises(RecordError, match="trial_id"):
        TrialRecord.from_dict({"run_id": "x"})


def test_run_paths_relative_to_autosearch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_HOME", str(tmp_path / "home2"))
    run = RunInfo.from_dict({**make_run().to_dict(), "summary": {"run_dir": f"runs/{RUN_ID}",
                                                                 "bundle": f"runs/{RUN_ID}/export"}})
    assert run.run_dir == tmp_path / "home2" / "runs" / RUN_ID
    assert run.bundle == tmp_path / "home2" / "runs" / RUN_ID / "export"
    absolute = RunInfo.from_dict({**make_run().to_dict(), "summary": {"run_dir": "/elsewhere/runs/x"}})
    assert absolute.run_dir == Path("/elsewhere/runs/x")
    assert make_run().run_dir is None


def test_a_killed_but_unreaped_process_counts_as_stopped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(proc.pid) and time.monotonic() < deadline:  # a zombie until we wait for it
        time.sleep(0.05)
    assert not pid_alive(proc.pid)
    proc.wait()
    assert pid_alive(os.getpid())


def test_liveness_rules() -> None:
    now = 10_000_000.0
    me = {"pid": os.getpid(), "host": this_host(), "at": now - 1}
    assert stopped(RUN_ID, me, started_at=0.0, now=now) is None
    assert "no heartbeat for" in stopped(RUN_ID, {**me, "at": now - STALE_AFTER - 1}, 0.0, now=now)
    assert stopped(RUN_ID, {"pid": 1, "host": "elsewhere", "at": now - 5}, 0.0, now=now) is None
    assert stopped(RUN_ID, {}, started_at=now - 5, now=now) is None
    assert "without a heartbeat" in stopped(RUN_ID, {}, started_at=now - STALE_AFTER - 1, now=now)
