"""The files of MLflow runs (the artifact half of ``mlflow_tracker.MLflowTracker``): a trial's typed
``hyperparameters.json`` and failed trial's ``traceback.txt``, a run's ``leaderboard.json`` (records in leaderboard
order; the tracker never renders) and, with ``?run_folder=1``, its whole folder as ``run_folder/``, which
``fetch_run_folder`` brings back on another machine for ``export`` and ``reproduce``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import TrackerError
from autosearch.tracking.mlflow_client import Client
from autosearch.tracking.mlflow_records import run_from_tags
from autosearch.tracking.records import RunInfo


class MLflowFiles:
    """Artifact writes for a tracker holding ``client`` (and the reads of ``mlflow_reads.MLflowReads``)."""

    client: Client
    mlflow: Any
    _lock: threading.RLock
    _ids_of: Any
    _parent: Any
    find_trials: Any

    def _log_hyperparameters(self, mid: str, hyperparameters: Mapping[str, Any]) -> None:
        self.client.call("to upload hyperparameters", lambda: self.mlflow.log_text(
            mid, json.dumps(dict(hyperparameters), indent=1, sort_keys=True, default=str), "hyperparameters.json"))

    def _log_leaderboard(self, run_id: str, mid: str) -> None:
        """``leaderboard.json``: the run's trials in leaderboard order, as records (the tracker never renders)."""
        trials = self.find_trials([run_id], top=10_000)
        rows = [{k: v for k, v in t.to_dict().items() if k != "epochs"} for t in trials]
        self.client.call("to upload the leaderboard", lambda: self.mlflow.log_text(
            mid, json.dumps(rows, indent=1, default=str), "leaderboard.json"))

    def _upload_run_folder(self, run: RunInfo, mid: str) -> None:
        folder = run.run_dir
        if folder is not None and folder.is_dir():
            self.client.call("to upload the run folder", lambda: self.mlflow.log_artifacts(
                mid, str(folder), artifact_path="run_folder"))

    def fetch_run_folder(self, run: RunInfo) -> Path:
        """Download the run's folder (logged with ``?run_folder=1``) to where ``run.run_dir`` says, under the
        autosearch home, for ``export`` and ``reproduce`` on a machine that did not search; one-line
        ``TrackerError`` when it was not logged or would land outside the home."""
        where, recorded = run.run_dir, run.outcome.run_dir
        if where is None or not recorded or Path(recorded).is_absolute():
            raise TrackerError(f"run {run.run_id}'s folder {where} is not on this machine and outside the autosearch "
                               "home; copy it there to export or reproduce.")
        with self._lock:
            mid = self._ids_of(run.run_id, "run")[0]
            listed = self.client.call("to list artifacts", lambda: self.mlflow.list_artifacts(mid))
            if "run_folder" not in {a.path for a in listed}:
                raise TrackerError(f"run {run.run_id}'s folder is not on this machine ({where}) and was not logged "
                                   f"to MLflow; search with --tracker 'mlflow+<uri>?run_folder=1' to log it, or copy "
                                   "the folder here.")
            where.parent.mkdir(parents=True, exist_ok=True)
            staging = where.parent / f".{where.name}.download"
            self.client.call("to download the run folder", lambda: self.mlflow.download_artifacts(
                mid, "run_folder", str(staging.mkdir(exist_ok=True) or staging)))
            (staging / "run_folder").rename(where)
            staging.rmdir()
        return where

    def _log_traceback(self, child: Any, record: Mapping[str, Any]) -> None:
        """``traceback.txt`` of a failed trial: the file the search kept in the run folder, else its error."""
        path = record.get("extra", {}).get("traceback")
        run_dir = run_from_tags(self._parent(record["run_id"]).data.tags, live=False).run_dir
        text = None
        if path and run_dir is not None and (run_dir / path).is_file():
            text = (run_dir / path).read_text(errors="replace")
        text = text or record.get("error")
        if text:
            self.client.call("to upload a traceback", lambda: self.mlflow.log_text(
                child.info.run_id, text, "traceback.txt"))
