"""ClearML backend (write-only): one ClearML task per search run.

Mapping: the resolved pipeline and run metadata become the task's
hyperparameters and configuration; tags name the task, data set and data
fingerprint; every epoch metric is a scalar with one series per trial; the
leaderboard is a table refreshed as trials finish; files the caller attaches
with ``log_artifact`` become the task's output model (the bundle) or artifacts
(the report HTML, the manifest). This backend records; it never renders.

Offline (``--offline``, no server configured, or a configured server that does
not answer within ``server_timeout``): the SDK's offline mode keeps the
session as a zip under ``<run dir>/clearml/``; ``autosearch clearml-upload RUN``
imports it into a server later and publishes the bundle as the output model,
which offline sessions leave out. The SDK is imported only here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from autosearch.errors import TrackerError
from autosearch.fileio import flatten
from autosearch.tracking.base import TrackerWriter
from autosearch.tracking.records import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrialRecord,
    TrialState,
    split_trial_id,
)

# Everything ClearML would otherwise hook or scan: it slows the search and
# duplicates what autosearch records itself (git state, packages, TensorBoard).
_NO_AUTO_CONNECT = {k: False for k in (
    "detect_repository", "tensorflow", "tensorboard", "keras", "matplotlib", "joblib", "scikit", "pytorch",
    "xgboost", "lightgbm", "catboost", "fastai", "hydra", "megengine", "jsonargparse")}
RECORD = "clearml.json"


def configured_server() -> str | None:
    """The API server from ``CLEARML_API_HOST`` or a clearml.conf file, if any."""
    if os.environ.get("CLEARML_API_HOST"):
        return os.environ["CLEARML_API_HOST"]
    for path in (os.environ.get("CLEARML_CONFIG_FILE"), Path.home() / "clearml.conf"):
        if path and Path(path).is_file():
            match = re.search(r"api_server\s*[:=]\s*\"?([^\s\"]+)", Path(path).read_text(errors="ignore"))
            if match:
                return match.group(1)
    return None


def server_reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to the server opens within ``timeout`` seconds."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


def _hyperparameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline config as ClearML hyperparameters: ``section/key`` names, scalar values (lists as JSON)."""
    flat = flatten({k: v for k, v in config.items() if k != "source"}, sep="/")
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v) for k, v in flat.items()}


class ClearMLTracker(TrackerWriter):
    """Writes runs and trials to ClearML; never read back (see ``CompositeTracker``)."""

    def __init__(self, project: str | None = None, offline: bool = False, server_timeout: float = 3.0,
                 trial_tasks: bool = False):
        self.project, self.force_offline, self.server_timeout = project or None, offline, server_timeout
        self.trial_tasks = trial_tasks
        self.uri = f"clearml://{project or ''}" + ("?offline=1" if offline else "")
        self.task: Any = None
        self._bundle: Path | None = None
        self.offline = offline
        self._run: RunInfo | None = None
        self._rows: dict[str, dict[str, Any]] = {}
        self._children: dict[str, str] = {}
        self._child_tasks: dict[str, Any] = {}

    # -- the SDK ------------------------------------------------------------------
    def _decide_offline(self) -> bool:
        if self.force_offline:
            return True
        server = configured_server()
        if server is None:
            print("note: no ClearML server configured (clearml.conf or CLEARML_API_HOST); running ClearML offline.",
                  file=sys.stderr)
            return True
        if not server_reachable(server, self.server_timeout):
            print(f"warning: ClearML server {server} did not answer within {self.server_timeout:g}s; running "
                  "ClearML offline, the local tracker is complete.", file=sys.stderr)
            return True
        return False

    def start_run(self, run: RunInfo) -> None:
        os.environ["CLEARML_NO_DEFAULT_SERVER"] = "1"  # never fall back to a public demo server
        self.offline = self._decide_offline()
        from clearml import Task

        Task.set_offline(self.offline)
        # Report from a thread, not a subprocess: the subprocess reporter holds close() ~11 s here.
        Task._report_subprocess_enabled = False
        self._run = run
        project = self.project or run.pipeline or "autosearch"
        tags = [run.task, run.dataset, f"fingerprint:{str(run.fingerprint)[:12]}", "autosearch"]
        self.task = Task.init(
            project_name=project, task_name=f"{run.pipeline} {run.run_id}", tags=tags, reuse_last_task_id=False,
            auto_connect_frameworks=_NO_AUTO_CONNECT, auto_connect_arg_parser=False, auto_resource_monitoring=False,
        )
        self.task.connect(_hyperparameters(run.config), name="pipeline")
        self.task.connect_configuration({"run_id": run.run_id, "data": dict(run.data),
                                         "environment": dict(run.environment)}, name="run")
        self.project = project

    def log_trial(self, trial: TrialRecord) -> None:
        self._rows[trial.trial_id] = {"trial": trial.trial_id, "kind": trial.kind.value, "state": trial.state.value,
                                      **{k: v for k, v in trial.hyperparameters.items() if not k.startswith("tuner/")}}
        if self.trial_tasks and not self.offline:
            from clearml import Task

            child = Task.create(project_name=self.project, task_name=trial.trial_id)
            child.set_parent(self.task.id)
            child.connect(dict(trial.hyperparameters), name="hyperparameters")
            self._children[trial.trial_id] = child.id
            self._child_tasks[trial.trial_id] = child

    def _series(self, trial_id: str) -> str:
        return split_trial_id(trial_id)[1]

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        logger = self.task.get_logger()
        for name, value in epoch.metrics.items():
            logger.report_scalar(title=name, series=self._series(trial_id), value=float(value), iteration=epoch.epoch)

    def finish_trial(self, trial_id: str, state: TrialState, *, ended_at: float, objective: float | None = None,
                     best_epoch: int | None = None, trainable_params: int | None = None, error: str | None = None,
                     extra: Mapping[str, Any] | None = None) -> None:
        child = self._child_tasks.pop(trial_id, None)
        if child is not None:  # a per-trial task: its result, then its final status
            if objective is not None:
                child.get_logger().report_single_value("objective", float(objective))
            if TrialState(state) is TrialState.COMPLETED:
                child.mark_completed(force=True)
            else:
                child.mark_failed(force=True, status_message=error or TrialState(state).value)
        row = self._rows.setdefault(trial_id, {"trial": trial_id})
        row.update(state=TrialState(state).value, objective=objective,
                   best_epoch=None if best_epoch is None else best_epoch + 1, params=trainable_params, error=error)
        if objective is not None and row.get("kind") == "search":
            done = sum(1 for r in self._rows.values() if r.get("kind") == "search" and r.get("objective") is not None)
            self.task.get_logger().report_scalar(title="objective", series="trials", value=float(objective),
                                                 iteration=done - 1)
        self._report_leaderboard()

    def _report_leaderboard(self) -> None:
        import pandas as pd

        direction = (self._run.config.get("search", {}) if self._run else {}).get("direction", "max")
        frame = pd.DataFrame(list(self._rows.values())).astype(object)  # ClearML fills NaN with a string
        if "objective" in frame:
            frame = frame.sort_values("objective", ascending=direction == "min", na_position="last")
        self.task.get_logger().report_table("leaderboard", "trials", iteration=0, table_plot=frame.reset_index(drop=True))

    def finish_run(self, run_id: str, status: RunStatus, *, ended_at: float, best_trial_id: str | None = None,
                   summary: Mapping[str, Any] | None = None) -> None:
        self._report_leaderboard()
        self.task.add_tags([f"status:{RunStatus(status).value.lower()}"])

    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        """A bundle becomes the task's output model (online); any other file an artifact of the task."""
        path = Path(path)
        if name == "bundle":
            self._bundle = path
            if not self.offline:
                self._publish_model(self.task, path)
        else:
            self.task.upload_artifact(name, artifact_object=str(path))

    def close(self) -> None:
        """Close the task; offline, keep its session zip under ``<run dir>/clearml/`` for a later upload."""
        if self.task is None:
            return
        run_id = self._run.run_id if self._run else None
        out = ((self._run.run_dir if self._run else None) or Path(".")) / "clearml"
        out.mkdir(parents=True, exist_ok=True)
        bundle = str(self._bundle) if self._bundle else None
        record = {"task_id": self.task.id, "project": self.project, "offline": self.offline, "run_id": run_id,
                  "bundle": bundle, "trial_tasks": self._children,
                  "output_model_published": bool(bundle) and not self.offline}
        folder = self.task.get_offline_mode_folder() if self.offline else None
        self.task.close()
        self.task = None
        if folder is not None:
            zip_path = Path(str(folder) + ".zip")
            if zip_path.exists():
                shutil.copy2(zip_path, out / "session.zip")
                record["session"] = str(out / "session.zip")
                print(f"ClearML offline session: {out / 'session.zip'}; upload it later with "
                      f"'autosearch clearml-upload {run_id}'.", file=sys.stderr)
        (out / RECORD).write_text(json.dumps(record, indent=2))

    @staticmethod
    def _publish_model(task: Any, bundle: Path) -> str:
        from clearml import OutputModel

        model = OutputModel(task=task, framework="Keras", name=f"{bundle.parent.name} bundle")
        model.update_weights_package(weights_path=str(bundle), auto_delete_file=False)
        return model.id


def upload_offline_session(run_dir: Path) -> dict[str, Any]:
    """Import a run's offline session into the configured server and publish its bundle as the output model."""
    record_path = Path(run_dir) / "clearml" / RECORD
    if not record_path.is_file():
        raise TrackerError(f"{run_dir} has no ClearML record; the run was not tracked with --tracker clearml.")
    record = json.loads(record_path.read_text())
    if not record.get("session"):
        raise TrackerError(f"run {record.get('run_id')} was tracked online (task {record['task_id']}); nothing to upload.")
    server = configured_server()
    if server is None or not server_reachable(server, 5.0):
        raise TrackerError(f"no reachable ClearML server ({server or 'none configured'}); set up clearml.conf "
                           "(clearml-init) or CLEARML_API_HOST and retry.")
    os.environ["CLEARML_NO_DEFAULT_SERVER"] = "1"
    from clearml import Task

    task_id = Task.import_offline_session(record["session"])
    if record.get("bundle") and Path(record["bundle"]).is_dir():
        ClearMLTracker._publish_model(Task.get_task(task_id=task_id), Path(record["bundle"]))
        record["output_model_published"] = True
    record.update(uploaded_task_id=task_id)
    record_path.write_text(json.dumps(record, indent=2))
    return record


def find_run_by_task_id(home: Path, task_id: str) -> tuple[str, str | None] | None:
    """(run id, trial id or None) whose ClearML task (or trial task) has this id."""
    for record_path in sorted((home / "runs").glob(f"*/clearml/{RECORD}")):
        record = json.loads(record_path.read_text())
        if task_id in (record.get("task_id"), record.get("uploaded_task_id")):
            return record["run_id"], None
        for trial_id, child in record.get("trial_tasks", {}).items():
            if child == task_id:
                return record["run_id"], trial_id
    return None
