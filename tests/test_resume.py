"""A stopped search continues where it stopped: same run id, no trial lost, none duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from autosearch.tracking import RunStatus, TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search
ARGS = ["search", "--pipeline", "structured", "--max-rows", "300", "--max-trials", "3", "--epochs", "40",
        "--patience", "0", "--ensemble", "off", "-q"]  # resuming is tested, not which model is exported


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"}


def stop_in_second_trial(home: Path, signum: int) -> int:
    """Start a search and send ``signum`` once its second search trial has recorded an epoch."""
    proc = subprocess.Popen([sys.executable, "-m", "autosearch", *ARGS], cwd=ROOT, env=env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if not (home / "tracker.db").exists():
                continue
            try:
                runs = SQLiteTracker(home / "tracker.db").list_runs()
                trials = SQLiteTracker(home / "tracker.db").list_trials(runs[0].run_id, with_epochs=True) if runs else []
            except Exception:  # noqa: BLE001 - the search may be creating its tables
                continue
            second = [t for t in trials if t.kind is TrialKind.SEARCH and t.local_id == "1" and t.epochs]
            if second:
                proc.send_signal(signum)
                return proc.wait(timeout=120)
        raise AssertionError("the search never reached its second trial")
    finally:
        if proc.poll() is None:
            proc.kill()


def search_rows(home: Path, run_id: str) -> dict:
    return {t.local_id: t for t in SQLiteTracker(home / "tracker.db").list_trials(run_id) if t.kind is TrialKind.SEARCH}


def cut_the_oracle(home: Path, run_id: str) -> Path:
    """Cut KerasTuner's ``oracle.json`` short, as a kill in the middle of its write leaves it; its path."""
    (oracle_json,) = (home / "runs" / run_id).rglob("oracle.json")
    text = oracle_json.read_text()
    oracle_json.write_text(text[: len(text) // 2])
    return oracle_json


# SIGKILL runs in `make test`: the hardest stop (no handler runs; liveness and the journal close the run), with
# KerasTuner's oracle.json cut as a kill mid-write leaves it (test_resume_rebuilds_oracle.py's case, which then
# runs in `make bench`), and the report drawn on resume. SIGTERM and SIGINT run the same scenario through the
# handler (about 50 s each); `make test` keeps their proof elsewhere: test_search.py checks both signals mark the
# trial and the run INTERRUPTED; test_interrupt_messages.py resumes a SIGINT-stopped search to a completed run,
# and test_tracker_lock.py a killed one with its oracle whole. Here, in full, they run in `make bench`.
@pytest.mark.parametrize("signum, code", [
    (signal.SIGKILL, -9),
    pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_a_stopped_search_resumes_to_its_full_budget_under_the_same_id(signum: int, code: int, home: Path) -> None:
    assert stop_in_second_trial(home, signum) == code
    tracker = SQLiteTracker(home / "tracker.db")
    (run,) = tracker.list_runs()
    assert run.status is RunStatus.INTERRUPTED, "a stopped run never reads RUNNING"
    listed = subprocess.run([sys.executable, "-m", "autosearch", "runs"], cwd=ROOT, env=env(home),
                            capture_output=True, text=True, timeout=120)
    assert "INTERRUPTED" in listed.stdout and "RUNNING" not in listed.stdout
    before = search_rows(home, run.run_id)
    assert before["0"].state is TrialState.COMPLETED and before["1"].state is TrialState.INTERRUPTED
    oracle_json = cut_the_oracle(home, run.run_id) if signum == signal.SIGKILL else None

    res = subprocess.run([sys.executable, "-m", "autosearch", "resume", run.run_id], cwd=ROOT, env=env(home),
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"Run {run.run_id}: 3 trials" in res.stdout
    assert "trial 2/3" in res.stdout and "trial 1/3" not in res.stdout, "the progress counts on from trial 0, done"
    run = SQLiteTracker(home / "tracker.db").get_run(run.run_id)
    assert run.status is RunStatus.COMPLETED and (run.bundle / "manifest.json").is_file()
    search = [t for t in SQLiteTracker(home / "tracker.db").list_trials(run.run_id) if t.kind is TrialKind.SEARCH]
    ids = [t.trial_id for t in search]
    assert len(ids) == len(set(ids)), "no duplicate trial rows"
    completed = sorted(t.keras_trial_id for t in search if t.state is TrialState.COMPLETED)
    assert completed == ["0", "1", "2"], [(t.trial_id, t.state.value) for t in search]
    (interrupted,) = [t for t in search if t.state is TrialState.INTERRUPTED]
    assert interrupted.local_id == "1" and f"{run.run_id}/1-a2" in ids
    assert len([t for t in SQLiteTracker(home / "tracker.db").list_trials(run.run_id)
                if t.kind is TrialKind.BASELINE]) == 2, "baselines are not scored twice"
    after = search_rows(home, run.run_id)
    assert {"1", "1-a2"} <= {p.name for p in (run.run_dir / "tensorboard").iterdir()}, \
        "the re-run attempt has its own TensorBoard folder, beside the interrupted one"
    assert after["0"].ended_at == before["0"].ended_at, "the completed trial is kept, not trained again"
    assert after["1-a2"].hyperparameters == after["1"].hyperparameters != after["0"].hyperparameters
    if oracle_json is not None:  # rebuilt from the trials' own files: whole again, and it knows every trial
        state = json.loads(oracle_json.read_text())
        assert sorted(state["end_order"]) == ["0", "1", "2"] and len(state["tried_so_far"]) == 3
    if signum == signal.SIGKILL:  # a kill after the run's end was written, before its report: resume draws it
        (run.run_dir / "report.html").unlink()
        res = subprocess.run([sys.executable, "-m", "autosearch", "resume", run.run_id, "-q"], cwd=ROOT,
                             env=env(home), capture_output=True, text=True, timeout=300)
        assert res.returncode == 0 and (run.run_dir / "report.html").is_file(), res.stderr[-3000:]
        assert SQLiteTracker(home / "tracker.db").get_run(run.run_id).artifacts["report"]
        res = subprocess.run([sys.executable, "-m", "autosearch", "resume", run.run_id], cwd=ROOT, env=env(home),
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and "completed; nothing to resume" in res.stderr


def test_resuming_a_completed_or_unknown_run_says_why(home: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "autosearch", "resume", "20261125-000000-beef"], cwd=ROOT,
                         env=env(home), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "not found" in res.stderr and len(res.stderr.strip().splitlines()) == 1
