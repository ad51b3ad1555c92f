"""Helpers for the tracker tests: backend factories and records (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytest

from autosearch.tracking import RunInfo, Tracker, TrialKind, TrialRecord, TrialState
from autosearch.tracking.liveness import this_host

RUN_ID = "20261124-101500-a1b2"


def _sqlite(request: pytest.FixtureRequest, tmp: Path) -> Tracker:
    from autosearch.tracking.sqlite import SQLiteTracker

    return SQLiteTracker(tmp / "tracker.db")


def _postgresql(request: pytest.FixtureRequest, tmp: Path) -> Tracker:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    return PostgreSQLTracker(request.getfixturevalue("pg_uri"))


def _composite(request: pytest.FixtureRequest, tmp: Path) -> Tracker:
    # writes fan out to a second real tracker, reads come from the first
    from autosearch.tracking.composite import CompositeTracker
    from autosearch.tracking.sqlite import SQLiteTracker

    return CompositeTracker(SQLiteTracker(tmp / "tracker.db"), [SQLiteTracker(tmp / "mirror.db")])


def _mlflow(request: pytest.FixtureRequest, tmp: Path) -> Tracker:
    # the session's real mlflow server; a fresh experiment prefix keeps each test's runs apart
    from autosearch.tracking.mlflow_tracker import MLflowTracker

    server = request.getfixturevalue("mlflow_server")
    return MLflowTracker(server.uri, prefix=server.prefix(), timeout=60)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Tracker]] = {
    "sqlite": _sqlite, "postgresql": _postgresql, "composite": _composite, "mlflow": _mlflow}


def beat(at: float | None = None, pid: int | None = None) -> dict:
    """A heartbeat of this process (alive), now unless told otherwise."""
    return {"pid": os.getpid() if pid is None else pid, "host": this_host(), "at": time.time() if at is None else at}


def make_run(run_id: str = RUN_ID, started_at: float = 1000.0, heartbeat: dict | None = None) -> RunInfo:
    """A RUNNING run whose process (this one) is alive, unless ``heartbeat`` says otherwise."""
    return RunInfo(run_id=run_id, pipeline="text", task="text_classification", dataset="rotten_tomatoes",
                   seed=0, started_at=started_at, config={"search": {"epochs": 2}},
                   data={"fingerprint": "abc", "rows": {"train": 10}}, environment={"versions": {"keras": "3.12"}},
                   heartbeat=beat() if heartbeat is None else heartbeat)


def make_trial(trial_id: str = f"{RUN_ID}/0", run_id: str = RUN_ID, started_at: float = 1001.0) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, run_id=run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
                       hyperparameters={"learning_rate": 0.001, "text_block/dropout": 0.0}, seed=42,
                       started_at=started_at)
