"""Backends for the tracker tests: SQLite files in tmp_path, and a real PostgreSQL server for the session.

The server is Debian's PostgreSQL (``make install`` installs it when run as root), started on a
loopback port in a temporary directory by the first test that needs it and stopped after the last.
Without PostgreSQL (or psycopg) those tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from pgserver import PostgresServer, find_bin_dir
from trackerkit import BACKENDS

from autosearch.tracking import Tracker


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {why}; 'make install' as root installs it.")
    pytest.skip(f"PostgreSQL tests skipped: {why} (apt-get install postgresql, or 'make install' as root)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    if find_bin_dir() is None:
        _unavailable("PostgreSQL is not installed")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_uri(postgres: PostgresServer) -> str:
    """A fresh, empty schema on the session's server (``create_database`` for a whole database)."""
    return postgres.create_schema()


@pytest.fixture(params=sorted(BACKENDS))
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tracker]:
    """Each backend in turn: SQLite, PostgreSQL, and the composite (SQLite + a SQLite mirror)."""
    t = BACKENDS[request.param](request, tmp_path)
    yield t
    t.close()
