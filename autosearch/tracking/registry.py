"""Choose a tracker backend from a URI.

The URI comes from the argument, then ``AUTOSEARCH_TRACKING_URI``, then the
default ``sqlite:///<home>/tracker.db``. Schemes: ``sqlite:///path``,
``postgresql://user@host:port/db`` (or ``postgres://``, a server several
processes and machines share), ``clearml://<project>`` and ``mlflow`` (MLflow's
``MLFLOW_TRACKING_URI``, else a store under the autosearch home) or
``mlflow+<tracking uri>`` (``mlflow+http://host:5000``). Backends are
imported inside their builders so that a command pays only for the backend it
uses (psycopg is never imported for SQLite).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable
from urllib.parse import parse_qsl

from autosearch.environment import autosearch_home
from autosearch.errors import TrackerError
from autosearch.redaction import redact
from autosearch.tracking.base import Tracker


def default_uri() -> str:
    return f"sqlite:///{autosearch_home() / 'tracker.db'}"


def _sqlite(rest: str) -> Tracker:
    from autosearch.tracking.sqlite import SQLiteTracker

    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    return SQLiteTracker(rest[1:] if rest.startswith("/") else rest)


def _check_sqlite(rest: str) -> None:
    path, sep, query = (rest[1:] if rest.startswith("/") else rest).partition("?")
    if sep:
        names = ", ".join(name for name, _ in parse_qsl(query, keep_blank_values=True)) or query
        raise TrackerError(f"tracker URI 'sqlite://{rest}' has options ({names}); sqlite:// takes "
                           f"none: give the path alone, e.g. sqlite:///{path or 'artifacts/tracker.db'}.")
    if not path:
        raise TrackerError("tracker URI 'sqlite:///' names no file; use sqlite:///path/to/tracker.db.")


def _postgresql(rest: str) -> Tracker:
    """``postgresql://user[:password]@host[:port]/db[?libpq options]``."""
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    return PostgreSQLTracker(f"postgresql://{rest}")


def _check_postgresql(rest: str) -> None:
    from autosearch.tracking.sqlpostgres import check_options

    if not rest.split("?", 1)[0].strip("/"):
        raise TrackerError("tracker URI 'postgresql://' names no server; use postgresql://user@host:5432/db.")
    try:
        check_options(f"postgresql://{rest}")  # psycopg is imported here first
    except ImportError as exc:
        raise TrackerError(f"the postgresql:// tracker needs psycopg ({exc}); "
                           "pip install 'psycopg[binary]' (make install does).") from None


CLEARML_OPTIONS = {"offline": "1 or 0", "timeout": "seconds, e.g. 10", "trial_tasks": "1 or 0"}
_YES, _NO = ("1", "true", "yes"), ("0", "false", "no")


def clearml_options(rest: str) -> dict[str, Any]:
    """``clearml://<project>[?offline=1&timeout=N&trial_tasks=1]``: the project and its options, checked: an
    unknown name is refused with the known ones, a timeout must be a positive number of seconds."""
    project, _, query = rest.partition("?")
    out: dict[str, Any] = {"project": project.strip("/") or None, "offline": False, "timeout": 3.0,
                           "trial_tasks": False}
    known = ", ".join(f"{k} ({v})" for k, v in CLEARML_OPTIONS.items())
    for name, value in parse_qsl(query, keep_blank_values=True):
        where = f"tracker URI 'clearml://{rest}'"
        if name not in CLEARML_OPTIONS:
            raise TrackerError(f"{where}: unknown option '{name}'; the options are {known}.")
        if name == "timeout":
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = math.nan
            if not 0 < out[name] < math.inf:
                raise TrackerError(f"{where}: timeout={value} is not a positive number of seconds; "
                                   "e.g. ?timeout=10.")
        elif value.lower() in _YES + _NO:
            out[name] = value.lower() in _YES
        else:
            raise TrackerError(f"{where}: {name}={value} must be 1 or 0 (true/false, yes/no).")
    return out


def _clearml(rest: str) -> Tracker:
    """``clearml://<project>[?offline=1]``: ClearML for writes, the local SQLite tracker for reads."""
    from autosearch.tracking.clearml import ClearMLTracker
    from autosearch.tracking.composite import CompositeTracker
    from autosearch.tracking.sqlite import SQLiteTracker

    o = clearml_options(rest)
    local = SQLiteTracker(autosearch_home() / "tracker.db")
    return CompositeTracker(local, [ClearMLTracker(o["project"], o["offline"], o["timeout"], o["trial_tasks"])])


MLFLOW_OPTIONS = {"timeout": "seconds per request, e.g. 10", "run_folder": "1 or 0: upload the run's folder"}


def mlflow_options(rest: str) -> dict[str, Any]:
    """``mlflow[+<tracking uri>][?timeout=N&run_folder=1]`` (``rest`` is what follows ``mlflow``): the tracking URI
    (``MLFLOW_TRACKING_URI``, else ``sqlite:///<home>/mlflow.db``) and autosearch's options, checked; other query
    options stay on the tracking URI (a database store's own)."""
    target = rest[1:] if rest.startswith("+") else rest
    if rest and not rest.startswith(("+", "?")) or rest.startswith("+?") or rest == "+":
        raise TrackerError(f"tracker URI 'mlflow{redact(rest)}': write mlflow, or mlflow+<MLflow tracking URI> "
                           "(e.g. mlflow+http://localhost:5000).")
    base, _, query = target.partition("?")
    out: dict[str, Any] = {"timeout": None, "run_folder": False}
    kept = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        where = f"tracker URI 'mlflow{redact(rest)}'"
        if name == "timeout":
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = math.nan
            if not 1 <= out[name] < math.inf:
                raise TrackerError(f"{where}: timeout={value} is not a number of seconds of at least 1; "
                                   "e.g. ?timeout=10.")
        elif name == "run_folder":
            if value.lower() not in _YES + _NO:
                raise TrackerError(f"{where}: run_folder={value} must be 1 or 0 (true/false, yes/no).")
            out[name] = value.lower() in _YES
        else:
            kept.append(f"{name}={value}")
    base = base + ("?" + "&".join(kept) if kept else "")
    out["tracking_uri"] = base or os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{autosearch_home() / 'mlflow.db'}"
    return out


def _mlflow(rest: str) -> Tracker:
    """MLflow for writes (dropped with one line if its server fails) and for the runs the local SQLite tracker
    does not hold; the local tracker for the rest, as for ClearML."""
    from autosearch.tracking.composite import CompositeTracker
    from autosearch.tracking.mlflow_tracker import MLflowTracker
    from autosearch.tracking.sqlite import SQLiteTracker

    o = mlflow_options(rest)
    try:
        remote = MLflowTracker(o["tracking_uri"], timeout=o["timeout"], run_folder=o["run_folder"])
    except ImportError as exc:
        raise TrackerError(f"the mlflow tracker needs MLflow ({exc}); pip install 'autosearch[mlflow]' "
                           "(make install does).") from None
    return CompositeTracker(SQLiteTracker(autosearch_home() / "tracker.db"), [remote])


# scheme -> (check the rest of the URI, writing nothing; build the tracker)
_BUILDERS: dict[str, tuple[Callable[[str], Any], Callable[[str], Tracker]]] = {
    "sqlite": (_check_sqlite, _sqlite), "postgresql": (_check_postgresql, _postgresql),
    "postgres": (_check_postgresql, _postgresql), "clearml": (clearml_options, _clearml),
    "mlflow": (mlflow_options, _mlflow)}


def resolve_uri(uri: str | None = None) -> str:
    return uri or os.environ.get("AUTOSEARCH_TRACKING_URI") or default_uri()


def offline_uri(uri: str) -> str:
    """A ClearML tracker URI with ``offline=1`` added (``clearml``, ``clearml://``, ``clearml://p?x=1``)."""
    if uri == "clearml":
        uri = "clearml://"
    if not uri.startswith("clearml://"):
        raise TrackerError(f"--offline is for the ClearML tracker, not '{redact(uri)}'; "
                           "add --tracker clearml://<project>.")
    return uri + ("&" if "?" in uri else "?") + "offline=1"


def check_uri(uri: str | None = None) -> tuple[str, str]:
    """(scheme, rest) of ``uri`` (or the configured default), its scheme and options checked; nothing is opened
    or written, so a command can refuse a bad URI before any other work."""
    uri = resolve_uri(uri)
    if uri == "clearml":
        uri = "clearml://"
    if uri.startswith("mlflow") and uri[6:7] in ("", "+", "?"):  # mlflow+http://host: the scheme is MLflow's
        _BUILDERS["mlflow"][0](uri[6:])
        return "mlflow", uri[6:]
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _BUILDERS:
        valid = ", ".join(f"{s}://" for s in sorted(_BUILDERS) if s != "mlflow") + ", mlflow, mlflow+<tracking uri>"
        raise TrackerError(
            f"unknown tracker URI '{redact(uri)}'; valid schemes: {valid} (e.g. {default_uri()})."
        )
    _BUILDERS[scheme][0](rest)
    return scheme, rest


def get_tracker(uri: "str | Tracker | None" = None) -> Tracker:
    """Return a tracker for ``uri``, an existing tracker, or the configured default."""
    if isinstance(uri, Tracker):
        return uri
    scheme, rest = check_uri(uri)
    return _BUILDERS[scheme][1](rest)


def find_by_external_id(external_id: str) -> tuple[str, str | None] | None:
    """(run id, trial id or None) that another system's id names: a ClearML task id of a run or of a
    trial, looked up in the run records under ``AUTOSEARCH_HOME``. None when no backend knows it."""
    from autosearch.tracking.clearml import (
        find_run_by_task_id,  # the module, not the ClearML SDK
    )

    return find_run_by_task_id(autosearch_home(), external_id)
