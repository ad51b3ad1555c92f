"""The ClearML backend with the real SDK: offline sessions, an unreachable server, reproduce by task id."""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from autosearch.tracking import TrialKind
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search
# ensembles off: reproduce by task id reproduces the best trial (an exported ensemble is not one to reproduce)
SEARCH = ["search", "--pipeline", "structured", "--ensemble", "off", "-q"]
ARGS = [*SEARCH, "--max-trials", "2", "--epochs", "2"]


def run(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AUTOSEARCH_HOME": str(tmp / "home"), "HOME": str(tmp / "user"),
                "PYTHONWARNINGS": "ignore", **env}
    for key in ("CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST", "CLEARML_CONFIG_FILE"):
        if key not in env:
            full_env.pop(key, None)
    (tmp / "user").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, capture_output=True, text=True,
                          env=full_env, timeout=600)


def run_dir_of(tmp: Path, run_id: str) -> Path:
    """Where the run's files are: ``<AUTOSEARCH_HOME>/runs/<id>`` (the tracker may record it relative to the home)."""
    return tmp / "home" / "runs" / run_id


def session_events(run_dir: Path) -> tuple[dict, list[dict]]:
    with zipfile.ZipFile(run_dir / "clearml" / "session.zip") as z:
        task = json.loads(z.read("task.json"))
        events = [e for line in z.read("metrics.jsonl").decode().splitlines() for e in json.loads(line)]
    return task, events


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("clearml")
    res = run(tmp, *ARGS, "--tracker", "clearml://autosearch-tests", "--offline")
    assert res.returncode == 0, res.stderr[-3000:]
    tracker = SQLiteTracker(tmp / "home" / "tracker.db")
    (info,) = tracker.list_runs()
    return tmp, res, tracker, info


def test_offline_session_holds_config_per_trial_series_and_leaderboard(offline_run) -> None:
    tmp, res, tracker, info = offline_run
    run_dir = run_dir_of(tmp, info.run_id)
    task, events = session_events(run_dir)
    assert task["project_name"] == "autosearch-tests"
    params = task["hyperparams"]["pipeline"]
    assert params["search/tuner"]["value"] == "greedy" and params["data/dataset"]["value"] == "breast_cancer"
    assert f"fingerprint:{info.fingerprint[:12]}" in task["tags"] and "breast_cancer" in task["tags"]
    search = [t for t in tracker.list_trials(info.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    scalars = collections.Counter((e["metric"], e["variant"]) for e in events if e["type"] == "training_stats_scalar")
    for trial in search:
        series = trial.keras_trial_id
        for metric in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert scalars[(metric, series)] == len(trial.epochs) == 2
    tables = [e for e in events if e["type"] == "plot" and e["metric"] == "leaderboard"]
    assert tables and all(t.trial_id in tables[-1]["plot_str"] for t in search)
    assert "clearml-upload" in res.stderr


def test_the_offline_session_is_announced_once_where_it_is(offline_run) -> None:
    tmp, res, _, info = offline_run
    said = [line for line in (res.stdout + res.stderr).splitlines() if "offline" in line.lower() and "session" in line]
    zipped = run_dir_of(tmp, info.run_id) / "clearml" / "session.zip"
    assert said == [f"ClearML offline session: {zipped}; upload it later with 'autosearch clearml-upload "
                    f"{info.run_id}'."], said


def test_the_bundle_waits_in_the_run_directory_for_upload(offline_run) -> None:
    tmp, _, _, info = offline_run
    record = json.loads((run_dir_of(tmp, info.run_id) / "clearml" / "clearml.json").read_text())
    assert record["offline"] is True and record["output_model_published"] is False
    assert (tmp / "home" / record["bundle"] / "manifest.json").is_file()  # relative: to the home
    assert Path(record["session"]).is_file()
    with zipfile.ZipFile(record["session"]) as z:
        names = z.namelist()
    assert any(n.endswith("artifacts/manifest/manifest.json") for n in names)
    assert any(n.endswith("artifacts/report/report.html") for n in names)


def test_the_local_tracker_holds_the_same_trials(offline_run) -> None:
    _, _, tracker, info = offline_run
    assert info.status.value == "COMPLETED"
    assert {t.kind for t in tracker.list_trials(info.run_id)} == {TrialKind.SEARCH, TrialKind.BASELINE}


def test_upload_without_a_server_says_how_to_configure_one(offline_run) -> None:
    tmp, _, _, info = offline_run
    res = run(tmp, "clearml-upload", info.run_id)
    assert res.returncode == 2 and "clearml-init" in res.stderr


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_upload_to_a_refused_port_says_refused_not_unanswered(offline_run) -> None:
    tmp, _, _, info = offline_run
    port = closed_port()
    res = run(tmp, "clearml-upload", info.run_id, CLEARML_API_HOST=f"http://127.0.0.1:{port}")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"refused the connection at 127.0.0.1:{port} (is the ClearML server running?)" in res.stderr
    assert "did not answer" not in res.stderr


def test_reproduce_accepts_the_clearml_task_id(offline_run) -> None:
    tmp, _, tracker, info = offline_run
    task_id = json.loads((run_dir_of(tmp, info.run_id) / "clearml" / "clearml.json").read_text())["task_id"]
    res = run(tmp, "reproduce", task_id)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"original    {info.best_trial_id}" in res.stdout and "HOLDS" in res.stdout


def test_unreachable_server_falls_back_to_offline_within_the_timeout(tmp_path: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    one = [*SEARCH, "--max-trials", "1", "--epochs", "1"]  # the fallback is tested here, not the trials
    res = run(tmp_path, *one, "--tracker", "clearml://autosearch-tests",
              CLEARML_API_HOST=url, CLEARML_WEB_HOST=url, CLEARML_FILES_HOST=url)
    assert res.returncode == 0, res.stderr[-3000:]
    assert time.monotonic() - started < 120
    assert (f"warning: ClearML server {url} refused the connection at 127.0.0.1:{port} (is the ClearML server "
            "running?); running ClearML offline, the local tracker is complete.") in res.stderr.splitlines()
    (info,) = SQLiteTracker(tmp_path / "home" / "tracker.db").list_runs()
    assert (run_dir_of(tmp_path, info.run_id) / "clearml" / "session.zip").is_file()
