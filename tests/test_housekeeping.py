"""Housekeeping deletes only what autosearch wrote, never a live run, never what a resume needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT

from autosearch.config import load_pipeline
from autosearch.tracking import RunInfo, RunStatus, TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "AUTOSEARCH_HOME": str(home)}, timeout=120)


def stopped_run(tracker: SQLiteTracker, home: Path, run_id: str, status: RunStatus, completed: int) -> Path:
    """A run directory with a checkpoint file, recorded (absolute path, as older versions did) with
    ``completed`` completed search trials and one interrupted one."""
    run_dir = (home / "runs" / run_id).resolve()
    (run_dir / "autokeras" / "trial_0").mkdir(parents=True)
    (run_dir / "autokeras" / "trial_0" / "checkpoint.weights.h5").write_bytes(b"w" * 1000)
    tracker.start_run(RunInfo(run_id=run_id, pipeline="text", task="text_classification", dataset="d", seed=0,
                              started_at=time.time(), summary={"run_dir": str(run_dir)}))
    for i in range(completed + 1):
        tid = f"{run_id}/{i}"
        tracker.log_trial(TrialRecord(tid, run_id, TrialKind.SEARCH, TrialState.RUNNING, {}, 0, time.time()))
        done = i < completed
        tracker.finish_trial(tid, TrialState.COMPLETED if done else TrialState.INTERRUPTED, ended_at=time.time(),
                             objective=0.5 if done else None)
    tracker.finish_run(run_id, status, ended_at=time.time())
    return run_dir


def test_gc_keeps_a_stopped_run_with_results_and_deletes_an_empty_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tracker = SQLiteTracker(home / "tracker.db")
    kept = stopped_run(tracker, home, "20261125-100000-aaaa", RunStatus.INTERRUPTED, completed=2)
    gone = stopped_run(tracker, home, "20261125-100000-bbbb", RunStatus.FAILED, completed=0)
    res = cli(home, "gc", "--yes")
    assert res.returncode == 0, res.stderr
    assert kept.is_dir() and (kept / "autokeras" / "trial_0" / "checkpoint.weights.h5").is_file()
    assert not gone.exists()
    assert [r.run_id for r in tracker.list_runs()] == ["20261125-100000-aaaa"]


def test_rm_and_gc_in_a_copied_home_leave_the_original_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tracker = SQLiteTracker(home / "tracker.db")
    a = stopped_run(tracker, home, "20261125-100000-aaaa", RunStatus.COMPLETED, completed=1)
    b = stopped_run(tracker, home, "20261125-100000-bbbb", RunStatus.FAILED, completed=0)
    tracker.close()
    copy = tmp_path / "home2"
    shutil.copytree(home, copy)
    assert cli(copy, "gc", "--yes").returncode == 0
    assert cli(copy, "rm", "20261125-100000-aaaa", "--yes").returncode == 0
    assert a.is_dir() and b.is_dir(), "the original home's run folders must survive"
    assert (a / "autokeras" / "trial_0" / "checkpoint.weights.h5").is_file()
    assert {r.run_id for r in SQLiteTracker(home / "tracker.db").list_runs()} == {a.name, b.name}
    assert SQLiteTracker(copy / "tracker.db").list_runs() == []


def test_rm_refuses_a_running_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tracker = SQLiteTracker(home / "tracker.db")
    tracker.start_run(RunInfo(run_id="20261125-100000-cccc", pipeline="text", task="text_classification",
                              dataset="d", seed=0, started_at=time.time(),
                              summary={"run_dir": str(home / "runs" / "20261125-100000-cccc")}))
    if hasattr(tracker, "heartbeat"):  # a live process beats
        tracker.heartbeat("20261125-100000-cccc", pid=os.getpid(), host=os.uname().nodename, at=time.time())
    res = cli(home, "rm", "20261125-100000-cccc", "--yes")
    assert res.returncode == 2 and "still running" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert f"still running (process {os.getpid()} on {os.uname().nodename})" in res.stderr  # the beat names it
    assert tracker.get_run("20261125-100000-cccc").status is RunStatus.RUNNING


@pytest.mark.search
def test_default_retention_keeps_the_best_checkpoint_and_no_second_model_copy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = load_pipeline(PIPELINES / "structured.toml", {"search.max_trials": 3, "search.epochs": 1,
                                                        "search.baselines": False,
                                                        "search.ensemble": "off"})  # the model is one trial
    result = run_search(cfg, tracker, home)
    kept = [p.parent.name for p in result.run_dir.glob("autokeras/trial_*/checkpoint.weights.h5")]
    assert kept == [f"trial_{tracker.get_trial(result.best_trial_id).keras_trial_id}"]
    assert not (result.run_dir / "autokeras" / "best_model.keras").exists()
    assert (result.bundle / "model.keras").is_file()
