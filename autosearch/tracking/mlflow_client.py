"""MLflow's client under autosearch's deadlines, its errors as one line, and the lookups the tracker needs.

MLflow's REST client waits 120 s for an answer and retries 7 times with a growing back-off: a silent
server would hold a command for a quarter of an hour. Unless the user set them, each request here waits
``timeout`` seconds (10 by default, ``?timeout=N``) and is retried twice, so a call ends within about
``3 * timeout + 2`` seconds; a miss is a one-line ``TrackerError``. MLflow is imported only here and only
when a tracker is built, so commands on SQLite never load it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from autosearch.errors import TrackerError
from autosearch.redaction import redact
from autosearch.tracking.mlflow_records import EXPERIMENT_TAG

T = TypeVar("T")
DEFAULT_TIMEOUT, RETRIES = 10, 2
PAGE = 1000
_QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run ... at" on every finished run
          "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5"}


def bound_requests(timeout: float | None) -> float:
    """Set MLflow's request deadlines (environment variables it reads on every request); returns the timeout.
    An explicit ``timeout`` wins; otherwise a value the user exported is kept."""
    if timeout is not None:
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(timeout)))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(RETRIES)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(DEFAULT_TIMEOUT))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(RETRIES))
    for name, value in _QUIET.items():
        os.environ.setdefault(name, value)
    return float(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])


def quoted(value: str) -> str:
    """A string literal for MLflow's search filter."""
    if "'" in value:
        raise TrackerError(f"id {value!r} holds a quote; MLflow's search cannot look it up.")
    return f"'{value}'"


class Client:
    """An ``MlflowClient`` whose calls end within the deadline and fail as ``TrackerError`` naming the server."""

    def __init__(self, tracking_uri: str, timeout: float | None = None, prefix: str = ""):
        self.timeout = bound_requests(timeout)
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # "Updating database tables", "Waiting up to 300 seconds for ..."
            logging.getLogger(name).setLevel(logging.WARNING)

        self.tracking_uri, self.prefix = tracking_uri, prefix
        self.mlflow = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiments: dict[str, str] = {}  # name -> id
        self._lock = threading.Lock()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except TrackerError:
            raise
        except Exception as exc:  # MlflowException, requests' errors, an unreachable store
            raise self.error(what, exc) from None

    def error(self, what: str, exc: BaseException) -> TrackerError:
        text = " ".join(str(exc).split())
        if "timeout" in text.lower() or "timed out" in text.lower():
            text = f"no answer within {self.timeout:g} s ({RETRIES + 1} tries)"
        elif "max retries exceeded" in text.lower() or "connection refused" in text.lower():
            text = "cannot connect (refused or unreachable)"
        return TrackerError(f"MLflow at {redact(self.tracking_uri)} failed {what}: {text[:300]}; check the server "
                            "(or MLFLOW_TRACKING_URI), or raise the limit with ?timeout=N.")

    # -- experiments ----------------------------------------------------------
    def experiment_id(self, pipeline: str) -> str:
        """The id of the experiment named after ``pipeline`` (with the prefix), created and tagged if new."""
        name = f"{self.prefix}{pipeline or 'autosearch'}"
        with self._lock:
            if name in self._experiments:
                return self._experiments[name]
            found = self.call("to look up an experiment", lambda: self.mlflow.get_experiment_by_name(name))
            if found is None:
                try:
                    eid = self.mlflow.create_experiment(name, artifact_location=self._artifact_root(name),
                                                        tags={EXPERIMENT_TAG: "1"})
                except Exception:  # noqa: BLE001 - another process created it first: read it back
                    found = self.call("to create an experiment", lambda: self.mlflow.get_experiment_by_name(name))
                    if found is None:
                        raise
                    eid = found.experiment_id
            else:
                eid = found.experiment_id
                if found.tags.get(EXPERIMENT_TAG) != "1":  # a user's own experiment: mark it as holding searches
                    self.call("to tag an experiment", lambda: self.mlflow.set_experiment_tag(eid, EXPERIMENT_TAG, "1"))
            self._experiments[name] = eid
            return eid

    def _artifact_root(self, name: str) -> str | None:
        """Where a local store's experiment keeps artifacts: beside its database (MLflow's default would be
        ``./mlruns`` in whatever folder the user stands in); a server chooses its own."""
        scheme, sep, path = self.tracking_uri.partition(":///")
        if not sep or scheme != "sqlite":
            return None
        return (Path(path).resolve().parent / "mlflow-artifacts" / name).as_uri()

    def experiment_ids(self) -> list[str]:
        """Every active experiment holding autosearch runs (under the prefix), read fresh."""
        fltr = f"tags.`{EXPERIMENT_TAG}` = '1'" + (f" AND name LIKE {quoted(self.prefix + '%')}" if self.prefix else "")

        def read() -> list[str]:
            ids, token = [], None
            while True:
                page = self.mlflow.search_experiments(filter_string=fltr, max_results=PAGE, page_token=token)
                ids += [e.experiment_id for e in page]
                token = page.token
                if not token:
                    return ids

        return self.call("to list experiments", read)

    # -- runs -------------------------------------------------------------------
    def search(self, filter_string: str, experiment_ids: list[str] | None = None) -> Iterator[Any]:
        """Every active MLflow run matching ``filter_string`` in the autosearch experiments."""
        ids = self.experiment_ids() if experiment_ids is None else experiment_ids
        if not ids:
            return
        token = None
        while True:
            page = self.call("to search runs", lambda: self.mlflow.search_runs(
                ids, filter_string, max_results=PAGE, page_token=token))
            yield from page
            token = page.token
            if not token:
                return
