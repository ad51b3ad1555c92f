"""``autosearch resume`` after a kill that left KerasTuner's ``oracle.json`` unreadable: the README says it is
rebuilt from the trials' own files. A real search is SIGKILLed in its second trial, the file is cut short as
a kill in the middle of its write would leave it, and the run is resumed from the command line."""

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
SEARCH = ["search", "--pipeline", "structured", "--max-rows", "300", "--max-trials", "2", "--epochs", "30",
          "--patience", "0", "--no-export", "--ensemble", "off", "-q"]  # the best is one of its trials


def autosearch(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("AUTOSEARCH_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env, text=True, **kwargs)


def search_rows(home: Path, run_id: str) -> dict:
    return {t.local_id: t for t in SQLiteTracker(home / "tracker.db").list_trials(run_id, with_epochs=True)
            if t.kind is TrialKind.SEARCH}


def killed_in_its_second_trial(home: Path) -> str:
    """Start a search, SIGKILL it once its second trial has recorded an epoch; its run id."""
    proc = autosearch(home, *SEARCH, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                runs = SQLiteTracker(home / "tracker.db").list_runs()
                if runs and (second := search_rows(home, runs[0].run_id).get("1")) and second.epochs:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=60)
                    return runs[0].run_id
            except Exception:  # noqa: BLE001 - the search may still be creating its tables
                continue
        raise AssertionError("the search never reached its second trial")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


# `make test` runs this case inside test_resume.py's SIGKILL test (the same kill in the second trial, the same cut,
# the same checks, on its 3-trial search); this search of its own (about 35 s) runs in `make bench`.
@pytest.mark.slow
def test_resume_rebuilds_an_unreadable_oracle_json_and_keeps_the_completed_trial(home: Path) -> None:
    run_id = killed_in_its_second_trial(home)
    before = search_rows(home, run_id)
    assert before["0"].state is TrialState.COMPLETED and before["1"].state is TrialState.INTERRUPTED  # its process died
    (oracle_json,) = (home / "runs" / run_id).rglob("oracle.json")
    text = oracle_json.read_text()
    oracle_json.write_text(text[: len(text) // 2])  # cut mid-write

    resume = autosearch(home, "resume", run_id, "--no-export", "-q", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = resume.communicate(timeout=900)
    assert resume.returncode == 0, err[-3000:]
    assert f"Run {run_id}: 2 trials" in out, out[-2000:]
    run = SQLiteTracker(home / "tracker.db").get_run(run_id)
    rows = search_rows(home, run_id)
    assert run.status is RunStatus.COMPLETED and run.best_trial_id in (f"{run_id}/0", f"{run_id}/1-a2")
    assert sorted(rows) == ["0", "1", "1-a2"], {k: t.state.value for k, t in rows.items()}
    assert rows["0"].state is TrialState.COMPLETED and rows["0"].ended_at == before["0"].ended_at, \
        "the completed trial is kept, not trained again"
    assert rows["1"].state is TrialState.INTERRUPTED and rows["1-a2"].state is TrialState.COMPLETED
    assert rows["1-a2"].hyperparameters == rows["1"].hyperparameters != rows["0"].hyperparameters
    state = json.loads(oracle_json.read_text())  # whole again, and it knows both trials
    assert sorted(state["end_order"]) == ["0", "1"] and len(state["tried_so_far"]) == 2
