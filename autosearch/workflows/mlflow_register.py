"""``search --register NAME``: the exported bundle of a finished search into MLflow's Model Registry.

Checked before the search (``check_register``: an MLflow tracker, an exported bundle) so that a bad request
costs no training; done after it (``register_run``) under the MLflow tracker's request deadlines, with its
parent run as the model version's run.
"""

from __future__ import annotations

import re
from typing import Any

from autosearch.errors import ExportError, TrackerError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,254}")


def check_register(name: str | None, tracker_uri: str | None, export: bool) -> None:
    """Refuse ``--register`` without the MLflow tracker, without an export, or with a name MLflow would refuse."""
    if name is None:
        return
    from autosearch.tracking.registry import check_uri

    if not _NAME.fullmatch(name):
        raise TrackerError(f"--register {name!r}: a model name is 1-255 letters, digits, spaces and _ . - "
                           "(starting with a letter or digit).")
    if check_uri(tracker_uri)[0] != "mlflow":
        raise TrackerError("--register needs the MLflow tracker: add --tracker mlflow (MLFLOW_TRACKING_URI) or "
                           "--tracker mlflow+http://host:5000.")
    if not export:
        raise TrackerError("--register logs the exported bundle; drop --no-export.")


def _mlflow_of(tracker: Any) -> Any:
    from autosearch.tracking.mlflow_tracker import MLflowTracker

    for candidate in (tracker, *getattr(tracker, "writers", ())):
        if isinstance(candidate, MLflowTracker):
            return candidate
    raise TrackerError("the model was not registered: MLflow failed during the search (see the warning above); "
                       "the bundle is in the run's export folder.")


def register_run(tracker: Any, run_id: str, name: str) -> list[str]:
    """Register the bundle of run ``run_id`` as a new version of ``name``; the lines to print."""
    from autosearch.export.mlflow_model import register_bundle

    remote = _mlflow_of(tracker)
    run = tracker.get_run(run_id)
    if run.bundle is None or not run.bundle.is_dir():
        raise ExportError(f"run {run_id} has no exported bundle to register; 'autosearch export {run_id}' writes one.")
    try:
        done = register_bundle(run.bundle, name, remote.client.tracking_uri, remote.mlflow_run_id(run_id),
                               run_id=run_id, fingerprint=str(run.fingerprint), scores=run.scores)
    except (ExportError, TrackerError):
        raise
    except Exception as exc:  # MlflowException, requests' errors: one line, the search itself is complete
        raise remote.client.error("to register the model", exc) from None
    return done.lines()
