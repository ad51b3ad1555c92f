"""Ctrl-C's last line says what was marked INTERRUPTED and the exact resume command, and claims nothing for a
command that had no run. Real processes, real SIGINTs."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from autosearch.tracking import RunStatus, TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search
SEARCH = ["search", "--pipeline", "structured", "--max-rows", "300", "--max-trials", "1", "--epochs", "60",
          "--patience", "0", "-q"]


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"}


def start(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def last_line(proc: subprocess.Popen) -> tuple[int, str]:
    """Exit code and last stderr line (TensorFlow's start-up chatter comes before it)."""
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    return proc.returncode, lines[-1] if lines else ""


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory):
    """A search sent SIGINT in its first search trial: (home, exit code, last stderr line)."""
    home = tmp_path_factory.mktemp("interrupted") / "home"
    proc = start(home, *SEARCH)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                tracker = SQLiteTracker(home / "tracker.db") if (home / "tracker.db").exists() else None
                runs = tracker.list_runs() if tracker else []
                trials = tracker.list_trials(runs[0].run_id, with_epochs=True) if runs else []
            except Exception:  # noqa: BLE001 - the search may be creating its tables
                continue
            if any(t.kind is TrialKind.SEARCH and t.epochs for t in trials):
                proc.send_signal(signal.SIGINT)
                break
        else:
            raise AssertionError("the search never trained an epoch")
        code, line = last_line(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    return home, code, line


def test_ctrl_c_in_a_search_names_the_run_and_trial_it_marked_and_the_resume_command(interrupted) -> None:
    home, code, line = interrupted
    tracker = SQLiteTracker(home / "tracker.db")
    (run,) = tracker.list_runs()
    (trial,) = [t for t in tracker.list_trials(run.run_id) if t.kind is TrialKind.SEARCH]
    assert code == 130
    assert run.status is RunStatus.INTERRUPTED and trial.state is TrialState.INTERRUPTED
    assert line == (f"interrupted (Ctrl-C): run {run.run_id} is marked INTERRUPTED, and so is its running trial "
                    f"{trial.trial_id}. Continue it with 'autosearch resume {run.run_id}'.")


@pytest.fixture(scope="module")
def resumed(interrupted):
    """The resume command the interrupt printed, run as printed: (home, its result)."""
    home, _, line = interrupted
    command = re.search(r"'autosearch (resume \S+)'", line).group(1).split()
    res = subprocess.run([sys.executable, "-m", "autosearch", *command, "-q"], cwd=ROOT, env=env(home),
                         capture_output=True, text=True, timeout=900)
    return home, res


def test_the_resume_command_the_interrupt_printed_works(resumed) -> None:
    home, res = resumed
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    assert run.status is RunStatus.COMPLETED and run.bundle is not None


def test_ctrl_c_in_predict_claims_no_run_and_leaves_no_output(resumed, tmp_path: Path) -> None:
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data

    home, _ = resumed
    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    rows = prepare_data(load_pipeline(ROOT / "autosearch" / "pipelines" / "structured.toml", {"data.max_rows": 300})).raw_x("validation")
    pd.concat([rows] * (20_000 // len(rows) + 1)).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "out.csv"
    bundle = home / "runs" / run.run_id / "export"  # run.bundle is relative to an AUTOSEARCH_HOME not set here
    proc = start(home, "predict", str(bundle), "--input", str(tmp_path / "rows.csv"), "--output", str(out),
                 "--batch-rows", "1")  # one row at a time: long enough to be caught at work
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not list(tmp_path.glob(".out.csv.tmp-*")):
        time.sleep(0.1)
    assert proc.poll() is None, "predict ended before its first batch was seen"
    proc.send_signal(signal.SIGINT)
    assert last_line(proc) == (130, "interrupted (Ctrl-C).")
    assert not out.exists() and not list(tmp_path.glob(".out.csv.tmp-*"))


def test_ctrl_c_in_export_claims_no_run_and_suggests_no_resume(resumed, tmp_path: Path) -> None:
    home, _ = resumed
    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    out = tmp_path / "bundle"
    proc = start(home, "export", run.run_id, "--out", str(out))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not list(tmp_path.glob(".bundle.tmp-*")):
        time.sleep(0.05)
    assert proc.poll() is None, "export ended before its bundle was begun"
    proc.send_signal(signal.SIGINT)
    assert last_line(proc) == (130, "interrupted (Ctrl-C).")
    assert not out.exists() and not list(tmp_path.glob(".bundle.tmp-*"))
    assert SQLiteTracker(home / "tracker.db").get_run(run.run_id).status is RunStatus.COMPLETED


def test_ctrl_c_before_the_run_is_recorded_claims_nothing_and_leaves_no_run_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    SQLiteTracker(home / "tracker.db")  # its tables, then a write lock held here: the search waits to record its run
    holder = sqlite3.connect(home / "tracker.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    proc = subprocess.Popen([sys.executable, "-m", "autosearch", *SEARCH], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env(home), "AUTOSEARCH_LOCK_TIMEOUT": "5"})
    try:
        assert proc.stdout.readline().startswith("structured: ")  # printed once the tracker is open, before the run
        time.sleep(1.0)  # into start_run's wait for the lock
        proc.send_signal(signal.SIGINT)
        assert last_line(proc) == (130, "interrupted (Ctrl-C).")
    finally:
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            proc.kill()
    assert SQLiteTracker(home / "tracker.db").list_runs() == []
    assert list((home / "runs").glob("*")) == []  # no folder of a run that was never recorded
