"""Backends for the tracker tests: SQLite files in tmp_path, a real PostgreSQL server and a real MLflow
server (tests/mlflowserver.py) for the session.

The server is Debian's PostgreSQL (``make install`` installs it when run as root), started on a
loopback port in a temporary directory by the first test that needs it and stopped after the last.
Without PostgreSQL (or psycopg) those tests skip, except where the components are required
(``AUTOSEARCH_REQUIRE_SERVICES=1``, set by ``.ci/run``, or ``CI``): there they fail (tests/required_services.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from mlflowserver import MlflowServer, shared_server
from pgserver import PostgresServer, require_postgres
from trackerkit import BACKENDS

from autosearch.tracking import Tracker


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session."""
    with PostgresServer(require_postgres()) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server() -> MlflowServer:
    """One real ``mlflow server`` for the whole test process (SQLite store, proxied artifacts)."""
    return shared_server()


@pytest.fixture
def pg_uri(postgres: PostgresServer) -> str:
    """A fresh, empty schema on the session's server (``create_database`` for a whole database)."""
    return postgres.create_schema()


@pytest.fixture(params=sorted(BACKENDS))
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tracker]:
    """Each backend in turn: SQLite, PostgreSQL, the composite (SQLite + a SQLite mirror) and MLflow."""
    t = BACKENDS[request.param](request, tmp_path)
    yield t
    t.close()
