"""A run's folder on a machine that did not run the search: fetched from a tracker that keeps it.

``export`` and ``reproduce`` need the run's checkpoints; a run read back from MLflow on another machine has
them only if its folder was logged (``mlflow+<uri>?run_folder=1``): the tracker downloads it into the
autosearch home, or says in one line that it was not logged.
"""

from __future__ import annotations

from typing import Any


def ensure_run_folder(tracker: Any, run: Any) -> None:
    """Fetch ``run``'s folder when it is missing here and ``tracker`` can (``fetch_run_folder``); else nothing."""
    if run.run_dir is None or run.run_dir.is_dir():
        return
    fetch = getattr(tracker, "fetch_run_folder", None)
    if fetch is not None:
        fetch(run)
