"""Choose a tracker backend from a URI.

The URI comes from the argument, then ``AUTOSEARCH_TRACKING_URI``, then the
default ``sqlite:///<home>/tracker.db``. Schemes: ``sqlite:///path``,
``postgresql://user@host:port/db`` (or ``postgres://``, a server several
processes and machines share) and ``clearml://<project>``. Backends are
imported inside their builders so that a command pays only for the backend it
uses (psycopg is never imported for SQLite).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from autosearch.errors import TrackerError
from autosearch.tracking.base import Tracker


def autosearch_home() -> Path:
    """Where the tracker database and run directories live (``AUTOSEARCH_HOME``)."""
    return Path(os.environ.get("AUTOSEARCH_HOME") or "artifacts")


def default_uri() -> str:
    return f"sqlite:///{autosearch_home() / 'tracker.db'}"


def _sqlite(rest: str) -> Tracker:
    from autosearch.tracking.sqlite import SQLiteTracker

    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    path = rest[1:] if rest.startswith("/") else rest
    if not path:
        raise TrackerError("tracker URI 'sqlite:///' names no file; use sqlite:///path/to/tracker.db.")
    return SQLiteTracker(path)


def _postgresql(rest: str) -> Tracker:
    """``postgresql://user[:password]@host[:port]/db[?libpq options]``."""
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    if not rest.split("?", 1)[0].strip("/"):
        raise TrackerError("tracker URI 'postgresql://' names no server; use postgresql://user@host:5432/db.")
    try:
        return PostgreSQLTracker(f"postgresql://{rest}")
    except ImportError as exc:  # psycopg is imported by the constructor
        raise TrackerError(f"the postgresql:// tracker needs psycopg ({exc}); "
                           "pip install 'psycopg[binary]' (make install does).") from None


def _clearml(rest: str) -> Tracker:
    """``clearml://<project>[?offline=1]``: ClearML for writes, the local SQLite tracker for reads."""
    from urllib.parse import parse_qs

    from autosearch.tracking.clearml import ClearMLTracker
    from autosearch.tracking.composite import CompositeTracker
    from autosearch.tracking.sqlite import SQLiteTracker

    project, _, query = rest.partition("?")
    options = parse_qs(query)
    offline = options.get("offline", ["0"])[0].lower() in ("1", "true", "yes")
    trial_tasks = options.get("trial_tasks", ["0"])[0].lower() in ("1", "true", "yes")
    try:
        timeout = float(options.get("timeout", ["3"])[0])
    except ValueError:
        raise TrackerError(f"clearml://{rest}: timeout must be a number of seconds, e.g. ?timeout=10.") from None
    local = SQLiteTracker(autosearch_home() / "tracker.db")
    return CompositeTracker(local, [ClearMLTracker(project.strip("/") or None, offline, timeout, trial_tasks)])


_BUILDERS: dict[str, Callable[[str], Tracker]] = {
    "sqlite": _sqlite, "postgresql": _postgresql, "postgres": _postgresql, "clearml": _clearml}


def resolve_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("AUTOSEARCH_TRACKING_URI") or default_uri()


def offline_uri(uri: str) -> str:
    """A ClearML tracker URI with ``offline=1`` added (``clearml``, ``clearml://``, ``clearml://p?x=1``)."""
    if uri == "clearml":
        uri = "clearml://"
    if not uri.startswith("clearml://"):
        raise TrackerError(f"--offline is for the ClearML tracker, not '{uri}'; add --tracker clearml://<project>.")
    return uri + ("&" if "?" in uri else "?") + "offline=1"


def get_tracker(uri: "str | Tracker | None" = None) -> Tracker:
    """Return a tracker for ``uri``, an existing tracker, or the configured default."""
    if isinstance(uri, Tracker):
        return uri
    uri = resolve_uri(uri)
    if uri == "clearml":
        uri = "clearml://"
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _BUILDERS:
        valid = ", ".join(f"{s}://" for s in sorted(_BUILDERS))
        raise TrackerError(
            f"unknown tracker URI '{uri}'; valid schemes: {valid} (e.g. {default_uri()})."
        )
    return _BUILDERS[scheme](rest)


def find_by_external_id(external_id: str) -> tuple[str, str | None] | None:
    """(run id, trial id or None) that another system's id names: a ClearML task id of a run or of a
    trial, looked up in the run records under ``AUTOSEARCH_HOME``. None when no backend knows it."""
    from autosearch.tracking.clearml import (
        find_run_by_task_id,  # the module, not the ClearML SDK
    )

    return find_run_by_task_id(autosearch_home(), external_id)
