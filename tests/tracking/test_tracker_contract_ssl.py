"""The whole tracker contract suite again, on PostgreSQL over an encrypted link (``sslmode=require``): the
same tests, collected here with a ``tracker`` whose URI asks libpq for SSL (and proves it got it)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from pgserver import PostgresServer
from test_tracker_contract import *  # noqa: F401,F403 - the contract's tests, run with the tracker below

from autosearch.tracking import Tracker


@pytest.fixture
def tracker(postgres: PostgresServer, tmp_path: Path) -> Iterator[Tracker]:
    """A fresh schema on the session's server, reached with ``sslmode=require``."""
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    t = PostgreSQLTracker(postgres.create_schema() + "&sslmode=require")
    assert t._conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()["ssl"] is True
    yield t
    t.close()
