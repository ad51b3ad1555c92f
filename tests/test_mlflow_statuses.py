"""MLflow statuses and files of trials, read through ``MlflowClient`` on the session's real server: a failed
trial is FAILED with its traceback as ``traceback.txt``, an interrupted one and one a killed search left
running are KILLED (MLflow's fluent API would end them FINISHED), a re-run attempt is a new child run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflowserver import shared_server

sys.path.insert(0, str(Path(__file__).parent / "tracking"))
from trackerkit import RUN_ID, beat, make_run, make_trial  # noqa: E402

from autosearch.tracking import RunInfo, RunStatus, TrialState  # noqa: E402


@pytest.fixture
def tracked(home: Path):
    from mlflow.tracking import MlflowClient

    from autosearch.tracking.mlflow_tracker import MLflowTracker

    server = shared_server()
    tracker = MLflowTracker(server.uri, prefix=server.prefix())
    yield tracker, MlflowClient(server.uri)
    tracker.close()


def _child(tracker, trial_id: str):
    return tracker.mlflow.get_run(tracker._ids_of(trial_id, "trial")[0])


def test_a_failed_trial_is_failed_with_its_traceback_and_an_interrupted_one_killed(tracked, home: Path) -> None:
    tracker, client = tracked
    run_dir = home / "runs" / RUN_ID
    (run_dir / "trials" / "0").mkdir(parents=True)
    (run_dir / "trials" / "0" / "traceback.txt").write_text("Traceback (most recent call last):\nValueError: bad\n")
    tracker.start_run(RunInfo(**{**make_run().__dict__, "summary": {"run_dir": f"runs/{RUN_ID}"}}))
    tracker.log_trial(make_trial())
    tracker.finish_trial(f"{RUN_ID}/0", TrialState.FAILED, ended_at=time.time(), error="ValueError: bad",
                         extra={"traceback": "trials/0/traceback.txt"})
    tracker.log_trial(make_trial(f"{RUN_ID}/1"))
    tracker.finish_trial(f"{RUN_ID}/1", TrialState.INTERRUPTED, ended_at=time.time(), error="stopped")
    failed, interrupted = _child(tracker, f"{RUN_ID}/0"), _child(tracker, f"{RUN_ID}/1")
    assert (failed.info.status, interrupted.info.status) == ("FAILED", "KILLED")
    text = Path(client.download_artifacts(failed.info.run_id, "traceback.txt")).read_text()
    assert text.startswith("Traceback (most recent call last):") and "ValueError: bad" in text
    tracker.finish_run(RUN_ID, RunStatus.INTERRUPTED, ended_at=time.time())
    assert client.get_run(tracker.mlflow_run_id(RUN_ID)).info.status == "KILLED"


def test_a_killed_searchs_running_trial_is_killed_and_its_rerun_is_a_new_child_run(tracked) -> None:
    tracker, client = tracked
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tracker.start_run(make_run(heartbeat=beat(pid=dead.pid)))
    tracker.log_trial(make_trial())  # left RUNNING by the killed process
    tracker.restart_run(RUN_ID)  # autosearch resume
    tracker.log_trial(make_trial(f"{RUN_ID}/0-a2"))
    first, again = _child(tracker, f"{RUN_ID}/0"), _child(tracker, f"{RUN_ID}/0-a2")
    assert first.info.status == "KILLED" and first.data.tags["autosearch.state"] == "INTERRUPTED"
    assert again.info.run_id != first.info.run_id and again.info.status == "RUNNING"
    assert again.data.tags["mlflow.parentRunId"] == first.data.tags["mlflow.parentRunId"] == \
        tracker.mlflow_run_id(RUN_ID)
    assert client.get_run(tracker.mlflow_run_id(RUN_ID)).info.status == "RUNNING"
