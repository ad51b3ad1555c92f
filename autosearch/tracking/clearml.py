"""ClearML backend (write-only): one ClearML task per run (config, tags, one scalar series per trial, the
leaderboard table, the bundle as output model, other ``log_artifact`` files as artifacts). It never renders.

Deadlines (``timeout``: 3 s, or ``clearml://p?timeout=N``): each SDK request waits at most ``timeout`` to
connect and to read, 3 attempts (``bound_sdk``); each call runs under ``call_deadline`` (the SDK retries failed
calls forever); online, a probe every ``PROBE_EVERY`` s sees a server gone mute. A miss is a ``TrackerError``:
``CompositeTracker`` drops this writer with one line. Offline, the SDK's cache is ``<run dir>/clearml``, not
``~/.clearml``; ``autosearch clearml-upload RUN`` imports its ``session.zip`` later, under the same deadlines.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from autosearch.environment import autosearch_home
from autosearch.errors import TrackerError
from autosearch.fileio import flatten
from autosearch.tracking.base import TrackerWriter
from autosearch.tracking.clearml_labels import RECORD, label_closed_task, label_live, tag_text, task_name
from autosearch.tracking.clearml_sdk import (
    SDK_OFFLINE_LINES,
    abandon,
    bound_sdk,
    call_deadline,
    configured_server,
    server_problem,
    within,
    without_lines,
)
from autosearch.tracking.records import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrialRecord,
    TrialState,
    check_name,
    check_note,
    check_tags,
    split_trial_id,
)

# Everything ClearML would hook or scan: slow, and autosearch records it (git, packages, TensorBoard, console).
_NO_AUTO_CONNECT = {k: False for k in (
    "detect_repository", "tensorflow", "tensorboard", "keras", "matplotlib", "joblib", "scikit", "pytorch",
    "xgboost", "lightgbm", "catboost", "fastai", "hydra", "megengine", "jsonargparse")}
PROBE_EVERY = 10.0  # seconds between liveness probes of an online server (before calls, on heartbeats)


def _hyperparameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline config as ClearML hyperparameters: ``section/key`` names, scalar values (lists as JSON)."""
    flat = flatten({k: v for k, v in config.items() if k != "source"}, sep="/")
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v) for k, v in flat.items()}


class ClearMLTracker(TrackerWriter):
    """Writes runs and trials to ClearML; never read back (see ``CompositeTracker``)."""

    def __init__(self, project: str | None = None, offline: bool = False, server_timeout: float = 3.0,
                 trial_tasks: bool = False):
        self.project, self.force_offline, self.server_timeout = project or None, offline, server_timeout
        self.trial_tasks, self.offline, self.task, self._run, self._table_due = trial_tasks, offline, None, None, False
        self.uri = f"clearml://{project or ''}" + ("?offline=1" if offline else "")
        self._dir, self._server, self._bundle, self._published, self._probed = Path("clearml"), None, None, False, 0.0
        self._stalled: str | None = None  # why ClearML was dropped: a call missed its deadline, a probe failed
        # trial id: table row (heartbeats read them: the lock), task id, task; the SDK's uploads (close waits for them)
        self._rows, self._children, self._child_tasks, self._uploads, self._lock = {}, {}, {}, [], threading.Lock()

    def _decide_offline(self) -> bool:
        self._server, self._probed = configured_server(), time.monotonic()
        if self.force_offline:
            return True
        problem = server_problem(self._server, self.server_timeout) if self._server else None
        if self._server and problem is None:
            return False
        print("note: no ClearML server configured (clearml.conf or CLEARML_API_HOST); running ClearML offline."
              if self._server is None else f"warning: ClearML server {self._server} {problem}; running ClearML "
              "offline, the local tracker is complete.", file=sys.stderr)
        return True

    def _call(self, what: str, call: Callable[[], Any], *uploads: Path) -> Any:
        """An SDK call that may reach the server, under ``call_deadline``; after one miss, no more calls."""
        if self.offline:  # the SDK's lines about its offline folder: close() says once where the session is
            with without_lines(SDK_OFFLINE_LINES):
                return call()
        self._check_alive()
        seconds = call_deadline(self.server_timeout, *uploads)
        try:
            if not self._stalled:
                return within(seconds, call)
        except TimeoutError:
            self._stalled = f"ClearML server {self._server} did not answer {what} within {seconds:.0f}s"
        except Exception as exc:
            raise TrackerError(f"ClearML server {self._server} failed {what} ({exc!r:.300}).") from exc
        abandon(None)
        raise TrackerError(f"{self._stalled}; ClearML dropped for this run, the local tracker is complete (raise "
                           "the limit with clearml://<project>?timeout=N).")

    def _check_alive(self) -> None:
        """The SDK's threads that send metrics retry a mute server forever, unseen: probe; the next call tells."""
        if not (self.offline or self.task is None or self._stalled or time.monotonic() - self._probed < PROBE_EVERY):
            self._probed = time.monotonic()
            problem = server_problem(str(self._server), self.server_timeout)
            if problem:
                self._stalled = f"ClearML server {self._server} {problem.replace('answer', 'answer a probe', 1)}"

    def start_run(self, run: RunInfo) -> None:
        self._run, self._dir = run, (run.run_dir or Path(".")) / "clearml"
        bound_sdk(self.server_timeout, self._dir)
        self.offline = self._decide_offline()
        from clearml import Task

        Task._report_subprocess_enabled = False  # report from a thread: a reporter subprocess holds close() ~11 s
        project = self.project or run.pipeline or "autosearch"
        tags = [run.task, run.dataset, f"fingerprint:{str(run.fingerprint)[:12]}", "autosearch",
                *(tag_text(k, v) for k, v in check_tags(run.tags).items())]
        name = task_name(f"{run.pipeline} {run.run_id}", check_name(run.name) or "")
        while self.task is None:  # online, then offline if Task.init fails there
            Task.set_offline(self.offline)
            try:
                self.task = self._call("Task.init", lambda: Task.init(
                    project_name=project, task_name=name, tags=tags, reuse_last_task_id=False,
                    auto_connect_frameworks=_NO_AUTO_CONNECT, auto_connect_arg_parser=False, auto_connect_streams=False,
                    auto_resource_monitoring=False))
            except TrackerError as exc:
                if self.offline or self._stalled:  # stalled: its Task.init still runs in its thread, no second one
                    raise
                print(f"warning: {exc} Running ClearML offline.", file=sys.stderr)
                self.offline = True
        if not self.offline:  # the task's log thread would retry a mute server forever, and be joined at exit
            self._call("the task log", lambda: self.task.get_logger()._close_stdout_handler(wait=True))
        self._call("the run configuration", lambda: (
            self.task.connect(_hyperparameters(run.config), name="pipeline"),
            self.task.connect_configuration({"run_id": run.run_id, "data": dict(run.data),
                                             "environment": dict(run.environment)}, name="run")))
        if run.note:
            self._call("the run's note", lambda: self.task.set_comment(check_note(run.note)))
        self.project = project

    def log_trial(self, trial: TrialRecord) -> None:
        row = {"trial": trial.trial_id, "kind": trial.kind.value, "state": trial.state.value,
               **{k: v for k, v in trial.hyperparameters.items() if not k.startswith("tuner/")}}
        with self._lock:
            self._rows[trial.trial_id], self._table_due = row, True
        if self.trial_tasks and not self.offline:
            from clearml import Task

            child = self._call("a trial task", lambda: Task.create(project_name=self.project, task_name=trial.trial_id))
            self._call("a trial task", lambda: (child.set_parent(self.task.id),
                                                child.connect(dict(trial.hyperparameters), name="hyperparameters")))
            self._children[trial.trial_id], self._child_tasks[trial.trial_id] = child.id, child

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        logger, series, metrics = self.task.get_logger(), split_trial_id(trial_id)[1], epoch.metrics.items()
        self._call("an epoch", lambda: [logger.report_scalar(title=k, series=series, value=float(v), iteration=epoch.epoch)
                                        for k, v in metrics])

    def finish_trial(self, trial_id: str, state: TrialState, *, ended_at: float, objective: float | None = None,
                     best_epoch: int | None = None, trainable_params: int | None = None, error: str | None = None,
                     extra: Mapping[str, Any] | None = None, hyperparameters: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            row = self._rows.setdefault(trial_id, {"trial": trial_id})
            row.update({k: v for k, v in (hyperparameters or {}).items() if not k.startswith("tuner/")},
                       state=TrialState(state).value, objective=objective, params=trainable_params, error=error,
                       best_epoch=None if best_epoch is None else best_epoch + 1)
            done = sum(1 for r in self._rows.values() if r.get("kind") == "search" and r.get("objective") is not None)
            self._table_due = True
        self._call("a trial result", lambda: self._report_trial(self._child_tasks.pop(trial_id, None), row, done))

    def _report_trial(self, child: Any, row: dict[str, Any], done: int) -> None:
        if child is not None:  # a per-trial task: its result, then its final status
            if row["objective"] is not None:
                child.get_logger().report_single_value("objective", float(row["objective"]))
            if row["state"] == TrialState.COMPLETED.value:
                child.mark_completed(force=True)
            else:
                child.mark_failed(force=True, status_message=row["error"] or row["state"])
        if row["objective"] is not None and row.get("kind") == "search":
            self.task.get_logger().report_scalar(title="objective", series="trials", value=float(row["objective"]),
                                                 iteration=done - 1)
        if row.get("kind") == "baseline":  # a few, scored before the search: the table shows them at once
            self._report_leaderboard()

    def _report_leaderboard(self) -> None:
        import pandas as pd

        with self._lock:  # called by the heartbeat thread too, while the search's thread changes rows
            rows, self._table_due = [dict(r) for r in self._rows.values()], False
        direction = (self._run.config.get("search", {}) if self._run else {}).get("direction", "max")
        frame = pd.DataFrame(rows).astype(object)  # ClearML fills NaN with a string
        if "objective" in frame:
            frame = frame.sort_values("objective", ascending=direction == "min", na_position="last")
        self.task.get_logger().report_table("leaderboard", "trials", iteration=0, table_plot=frame.reset_index(drop=True))

    def finish_run(self, run_id: str, status: RunStatus, *, ended_at: float, best_trial_id: str | None = None,
                   summary: Mapping[str, Any] | None = None) -> None:
        self._call("the run's end", lambda: (self._report_leaderboard(),
                                             self.task.add_tags([f"status:{RunStatus(status).value.lower()}"])))

    def set_tags(self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()) -> None:
        """ClearML tags ``key=value`` (see ``clearml_labels``), on the open task or, after the search, its record's."""
        self._label(run_id, tags=check_tags(tags, remove), remove=list(remove))

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        """The name after the run id in the task name, the note as the task's comment."""
        self._label(run_id, name=check_name(name), note=check_note(note))

    def _label(self, run_id: str, **labels: Any) -> None:
        if self.task is not None and self._run is not None and self._run.run_id == run_id:
            self._call("the run's labels", lambda: label_live(self.task, **labels))
        else:
            label_closed_task(run_id, self.server_timeout, **labels)

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        """Liveness lives in the local tracker; a beat probes an online server (``_check_alive``) and reports the
        leaderboard table if it changed (O(trials): not at each search trial's end); a killed run keeps the last."""
        self._check_alive()
        if self._table_due and self.task is not None and not self._stalled:
            with contextlib.suppress(Exception):  # a missed deadline sets _stalled: the search's next call says so
                self._call("the leaderboard", self._report_leaderboard)

    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        """A bundle becomes the task's output model (online); any other file an artifact of the task."""
        self._bundle = path if name == "bundle" else self._bundle
        path = autosearch_home() / path  # a relative path is relative to the home, as the local tracker has it
        if name != "bundle":  # uploaded in the background; close() waits for it
            self._call(f"the {name} artifact", lambda: self.task.upload_artifact(name, artifact_object=str(path)))
            self._uploads.append(path)
        elif not self.offline:
            self._call("the bundle upload", lambda: self._publish_model(self.task, path), path)
            self._published = True

    def close(self) -> None:
        """Close the task within its deadline; offline, keep the session as ``<run dir>/clearml/session.zip``."""
        if self.task is None:
            return
        task, self.task, out = self.task, None, self._dir
        out.mkdir(parents=True, exist_ok=True)
        run_id, folder = self._run.run_id if self._run else None, task.get_offline_mode_folder() if self.offline else None
        record = {"task_id": task.id, "project": self.project, "offline": self.offline, "run_id": run_id,
                  "bundle": str(self._bundle) if self._bundle else None, "trial_tasks": self._children,
                  "timeout": self.server_timeout, "output_model_published": self._published}
        try:
            if self._stalled:  # then _call raises: CompositeTracker said so when it dropped this writer, or says it now
                abandon(task)
            self._call("closing the task", task.close, *self._uploads)
        finally:
            if folder is not None and Path(f"{folder}.zip").exists():
                shutil.move(f"{folder}.zip", out / "session.zip")
                shutil.rmtree(out / "offline", ignore_errors=True)  # the same files, unzipped (the SDK's cache: out)
                record["session"] = str(out / "session.zip")
                print(f"ClearML offline session: {out / 'session.zip'}; upload it later with "
                      f"'autosearch clearml-upload {run_id}'.", file=sys.stderr)
            (out / RECORD).write_text(json.dumps({**record, "dropped": self._stalled}, indent=2))

    @staticmethod
    def _publish_model(task: Any, bundle: Path) -> str:
        from clearml import OutputModel

        model = OutputModel(task=task, framework="Keras", name=f"{bundle.parent.name} bundle")
        model.update_weights_package(weights_path=str(bundle), auto_delete_file=False)
        return model.id


def upload_offline_session(run_dir: Path, timeout: float | None = None) -> dict[str, Any]:
    """Import a run's offline session and publish its bundle as output model, each under ``call_deadline``."""
    record_path = Path(run_dir) / "clearml" / RECORD
    if not record_path.is_file():
        raise TrackerError(f"{run_dir} has no ClearML record; the run was not tracked with --tracker clearml.")
    record = json.loads(record_path.read_text())
    session = record_path.parent / "session.zip"  # not record["session"]: the run directory may have moved
    if not record.get("session") or not session.is_file():
        raise TrackerError(f"run {record.get('run_id')} has no offline ClearML session in {session.parent} "
                           f"(tracked online as task {record['task_id']}); nothing to upload.")
    server, timeout = configured_server(), float(timeout or record.get("timeout") or 3.0)
    retry = f"check clearml.conf (clearml-init) or CLEARML_API_HOST, rerun 'autosearch clearml-upload {record['run_id']}'"
    bound_sdk(timeout, record_path.parent)
    problem = server_problem(server, timeout) if server else "is not configured"
    if problem:
        raise TrackerError(f"ClearML server {server} {problem}; {retry}" if server
                           else f"no ClearML server configured; {retry}")
    from clearml import Task

    bundle = autosearch_home() / record["bundle"] if record.get("bundle") else None
    step, seconds = "the session import", call_deadline(timeout, session)
    try:
        task_id = within(seconds, lambda: Task.import_offline_session(str(session)))
        if bundle is not None and bundle.is_dir():
            step, seconds = "the bundle upload", call_deadline(timeout, bundle)
            within(seconds, lambda: ClearMLTracker._publish_model(Task.get_task(task_id=task_id), bundle))
            record["output_model_published"] = True
    except TimeoutError:
        abandon(None)
        raise TrackerError(f"ClearML server {server} did not answer {step} within {seconds:.0f}s; {retry}") from None
    except Exception as exc:
        raise TrackerError(f"ClearML server {server} failed {step} ({exc!r:.300}); {retry}") from exc
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
