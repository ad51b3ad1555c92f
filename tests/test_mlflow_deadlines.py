"""MLflow's edges: a server that accepts connections and never answers ends a command within the bound with
one line (MLflow alone would wait 120 s, 7 times), a search keeps going on the local tracker with one warning,
``--register`` is refused before any work without the MLflow tracker, a run read back from MLflow whose folder
was not logged says so in one line, and commands on SQLite never import MLflow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from mlflowserver import require_mlflow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent / "tracking"))
from trackerkit import make_run  # noqa: E402

from autosearch.tracking import RunStatus  # noqa: E402


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts every connection and never answers."""
    server, held, stop = socket.socket(), [], threading.Event()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def autosearch(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("AUTOSEARCH_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_runs_on_a_silent_mlflow_server_ends_within_the_bound_with_one_line(silent_port: int, home: Path) -> None:
    require_mlflow()  # skips without MLflow, fails where the components are required
    started = time.monotonic()
    res = autosearch(home, "runs", "--tracker", f"mlflow+http://127.0.0.1:{silent_port}?timeout=2")
    elapsed = time.monotonic() - started
    assert res.returncode == 2, res.stderr[-2000:]
    (line,) = res.stderr.strip().splitlines()
    assert f"MLflow at http://127.0.0.1:{silent_port} failed" in line and "no answer within 2 s (3 tries)" in line
    assert elapsed < 3 * 2 + 2 + 3 + 30, elapsed  # 3 tries of 2 s, a 2 s back-off, jitter, Python's start


def test_a_silent_server_drops_mlflow_with_one_warning_and_the_local_tracker_goes_on(
        silent_port: int, home: Path, capsys: pytest.CaptureFixture) -> None:
    require_mlflow()  # skips without MLflow, fails where the components are required
    from autosearch.tracking import get_tracker

    tracker = get_tracker(f"mlflow+http://127.0.0.1:{silent_port}?timeout=1")
    started = time.monotonic()
    run = make_run()
    tracker.start_run(run)
    tracker.finish_run(run.run_id, RunStatus.COMPLETED, ended_at=time.time())
    assert time.monotonic() - started < 3 * 1 + 2 + 3
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith(f"warning: mlflow+http://127.0.0.1:{silent_port} failed") and "continuing with" in warning
    assert tracker.get_run(run.run_id).status is RunStatus.COMPLETED  # the local record is whole
    tracker.close()


def test_register_without_the_mlflow_tracker_is_refused_before_the_data_are_read(home: Path) -> None:
    res = autosearch(home, "search", "--register", "model", "--data", str(home / "missing.csv"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "TrackerError: --register needs the MLflow tracker: add --tracker mlflow (MLFLOW_TRACKING_URI) or "
        "--tracker mlflow+http://host:5000."]


def test_register_with_workers_is_refused_before_any_process_starts(home: Path) -> None:
    """The launcher's chief and workers would search and export without registering: refused, not ignored."""
    res = autosearch(home, "search", "--workers", "2", "--register", "model", "--tracker", "mlflow")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "ConfigError: --register does not combine with --workers yet; search, then register the run's bundle "
        "with one process: autosearch search --register NAME (without --workers)."]
    assert not (home / "runs").exists()


def test_export_of_a_run_read_back_from_mlflow_without_its_folder_says_so_in_one_line(home: Path) -> None:
    from mlflowserver import shared_server

    from autosearch.tracking.mlflow_tracker import MLflowTracker

    server = shared_server()
    run = make_run(run_id=f"20261203-000000-{os.getpid() % 10000:04d}")
    elsewhere = MLflowTracker(server.uri)  # a search on another machine, its folder not logged
    elsewhere.start_run(run)
    elsewhere.finish_run(run.run_id, RunStatus.COMPLETED, ended_at=time.time(), best_trial_id=f"{run.run_id}/0",
                         summary={"run_dir": f"runs/{run.run_id}"})
    res = autosearch(home, "export", run.run_id, "--tracker", f"mlflow+{server.uri}")
    assert res.returncode == 2, res.stderr[-2000:]
    (line,) = res.stderr.strip().splitlines()
    assert f"run {run.run_id}'s folder is not on this machine" in line and "?run_folder=1" in line
    assert not (home / "runs" / run.run_id).exists()


@pytest.mark.parametrize("args", [["--help"], ["runs"], ["leaderboard", "--all-runs"]])
def test_commands_on_sqlite_import_neither_mlflow_nor_tensorflow(args: list[str], home: Path) -> None:
    code = ("import sys\nfrom autosearch.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('mlflow', 'tensorflow') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "AUTOSEARCH_HOME": str(home)})
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stdout + res.stderr
