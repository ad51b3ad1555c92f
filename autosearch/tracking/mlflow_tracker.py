"""The MLflow backend: a search is a parent MLflow run in an experiment named after its pipeline, each trial
(search, baseline, ensemble, re-run) a child run; everything reads back (``mlflow_reads``).

Statuses go through ``MlflowClient`` (the fluent API would end an active run FINISHED at exit): a completed
trial or run is FINISHED, a failed one FAILED, an interrupted or killed one KILLED. A trial's params are its
hyperparameters (MLflow's params are immutable, so a re-run attempt is a new child run, which autosearch
does anyway: ``<n>-a2``), also as the typed ``hyperparameters.json``; its epochs are metrics with
``step`` = epoch; a failed trial's traceback is ``traceback.txt``. A run's files (``log_artifact``: bundle,
manifest, report), its ``leaderboard.json`` and, with ``?run_folder=1``, its whole folder are artifacts.
Tag layout: ``mlflow_records``; deadlines and errors: ``mlflow_client``.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.environment import autosearch_home
from autosearch.errors import TrackerError, TrialFinishedError
from autosearch.redaction import redact
from autosearch.tracking import liveness
from autosearch.tracking.base import Tracker
from autosearch.tracking.mlflow_client import Client, quoted
from autosearch.tracking.mlflow_files import MLflowFiles
from autosearch.tracking.mlflow_reads import MLflowReads
from autosearch.tracking.mlflow_records import (
    HEARTBEAT,
    MLFLOW_STATUS,
    NAME,
    NOTE,
    OBJECTIVE_METRIC,
    OUTCOME,
    RECORD,
    RUN,
    STATE,
    TYPE,
    outcome_of,
    packed,
    run_from_tags,
    run_params,
    run_tags,
    trial_params,
    trial_tags,
    unpacked,
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
)
from autosearch.tracking.sqlrows import ran_so_far

BATCH = 100  # MLflow takes at most 100 params and tags per log_batch


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


class MLflowTracker(MLflowFiles, MLflowReads, Tracker):
    """Runs and trials in MLflow (``mlflow+<tracking uri>``); ``prefix`` names experiments ``<prefix><pipeline>``
    (tests use it to keep one server's runs apart)."""

    def __init__(self, tracking_uri: str, *, timeout: float | None = None, prefix: str = "",
                 run_folder: bool = False):
        self.client = Client(tracking_uri, timeout, prefix)
        self.uri, self.run_folder = f"mlflow+{redact(tracking_uri)}", run_folder
        self._ids: dict[str, tuple[str, str]] = {}
        self._states: dict[str, str] = {}  # trial or run id -> state as this process last wrote it
        self._lock = threading.RLock()

    @property
    def mlflow(self) -> Any:
        return self.client.mlflow

    def mlflow_run_id(self, run_id: str) -> str:
        """The MLflow run id of the parent run of ``run_id`` (for ``--register``)."""
        with self._lock:
            return self._ids_of(run_id, "run")[0]

    def _batch(self, what: str, mlflow_id: str, *, tags: Mapping[str, str] | None = None,
               params: Mapping[str, str] | None = None, metrics: Sequence[Any] = ()) -> None:
        from mlflow.entities import Param, RunTag

        tag_list = [RunTag(k, v) for k, v in (tags or {}).items()]
        param_list = [Param(k, v) for k, v in (params or {}).items()]
        while tag_list or param_list or metrics:
            tags_now, tag_list = tag_list[:BATCH], tag_list[BATCH:]
            params_now, param_list = param_list[:BATCH - len(tags_now)], param_list[BATCH - len(tags_now):]
            metrics_now, metrics = list(metrics[:1000]), metrics[1000:]
            self.client.call(what, lambda: self.mlflow.log_batch(mlflow_id, metrics=metrics_now, params=params_now,
                                                                 tags=tags_now))

    def _terminate(self, mlflow_id: str, state: str, ended_at: float | None) -> None:
        self.client.call("to set a run's status", lambda: self.mlflow.set_terminated(
            mlflow_id, MLFLOW_STATUS[state], end_time=_ms(ended_at)))

    # -- runs ---------------------------------------------------------------------
    def start_run(self, run: RunInfo) -> None:
        tags = run_tags(run)  # checks name, note and tags before anything is written
        with self._lock:
            if self._find(run.run_id, "run") is not None:
                raise TrackerError(f"run '{run.run_id}' already exists in {self.uri}.")
            eid = self.client.experiment_id(run.pipeline)
            created = self.client.call("to start a run", lambda: self.mlflow.create_run(  # the record, at once
                eid, start_time=_ms(run.started_at), tags=tags))
            mid = created.info.run_id
            self._ids[run.run_id] = (mid, eid)
            self._batch("to record a run's params", mid, params=run_params(run))
            self._states[run.run_id] = RunStatus(run.status).value
            if run.status is not RunStatus.RUNNING:
                self._terminate(mid, RunStatus(run.status).value, run.ended_at)

    def _outcome(self, run_id: str) -> tuple[str, dict[str, Any], Mapping[str, str]]:
        parent = self._parent(run_id)
        return parent.info.run_id, unpacked(parent.data.tags, OUTCOME), parent.data.tags

    def finish_run(self, run_id: str, status: RunStatus, *, ended_at: float, best_trial_id: str | None = None,
                   summary: Mapping[str, Any] | None = None) -> None:
        status = RunStatus(status)
        with self._lock:
            mid, outcome, tags = self._outcome(run_id)
            outcome.update(status=status.value, ended_at=ended_at, best_trial_id=best_trial_id,
                           summary={**outcome["summary"], **(summary or {})})
            scores = outcome["summary"].get("scores") or {}
            metrics = {f"best_{k}": v for k, v in scores.items() if isinstance(v, (int, float)) and math.isfinite(v)}
            if isinstance(best := outcome["summary"].get("best_objective"), (int, float)) and math.isfinite(best):
                metrics["best_objective"] = best
            from mlflow.entities import Metric

            self._batch("to finish a run", mid, tags=packed(OUTCOME, outcome),
                        metrics=[Metric(k, float(v), _ms(ended_at), 0) for k, v in metrics.items()])
            self._states[run_id] = status.value
            if status is not RunStatus.RUNNING:
                self._terminate(mid, status.value, ended_at)
            self._log_leaderboard(run_id, mid)
            if self.run_folder and status is not RunStatus.RUNNING:
                self._upload_run_folder(run_from_tags(tags, live=False), mid)

    def log_artifact(self, run_id: str, name: str, path: Any) -> None:
        with self._lock:
            mid, outcome, _ = self._outcome(run_id)
            outcome["summary"]["artifacts"] = {**outcome["summary"].get("artifacts", {}), name: str(path)}
            self._batch("to record an artifact", mid, tags=packed(OUTCOME, outcome))
            local = Path(path) if Path(path).is_absolute() else autosearch_home() / path
            if local.is_dir():
                self.client.call(f"to upload {name}", lambda: self.mlflow.log_artifacts(mid, str(local), name))
            elif local.is_file():
                self.client.call(f"to upload {name}", lambda: self.mlflow.log_artifact(mid, str(local), name))

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        with self._lock:
            if self._states.get(run_id) != RunStatus.RUNNING.value:
                _, outcome, _ = self._outcome(run_id)  # unknown -> UnknownRunError
                self._states[run_id] = outcome["status"]
                if outcome["status"] != RunStatus.RUNNING.value:
                    return  # a late beat after finish_run
            mid = self._ids_of(run_id, "run")[0]
            beat = json.dumps({"pid": int(pid), "host": str(host), "at": float(at)})
            self.client.call("to record a heartbeat", lambda: self.mlflow.set_tag(mid, HEARTBEAT, beat))

    def restart_run(self, run_id: str) -> RunInfo:
        with self._lock:
            parent = self._parent(run_id)
            run = run_from_tags(parent.data.tags, live=False)
            reason = liveness.restart_reason(run)
            self._close_running_trials(run, parent, reason)
            now = time.time()
            summary = {k: v for k, v in run.summary.items() if k != "error"}
            summary.update(duration=ran_so_far(run), resumed_at=now)
            outcome = {**outcome_of(run), "status": RunStatus.RUNNING.value, "ended_at": None, "summary": summary}
            beat = {"pid": os.getpid(), "host": liveness.this_host(), "at": now}
            mid = parent.info.run_id
            self._batch("to restart a run", mid, tags={**packed(OUTCOME, outcome), HEARTBEAT: json.dumps(beat)})
            self.client.call("to restart a run", lambda: self.mlflow.update_run(mid, status="RUNNING"))
            self._states[run_id] = RunStatus.RUNNING.value
        return self.get_run(run_id)

    def _close_running_trials(self, run: RunInfo, parent: Any, reason: str | None) -> None:
        """Record the RUNNING trials of a stopped run INTERRUPTED (KILLED in MLflow), as ``restart_run`` says."""
        died = reason is not None  # the process went without closing its trial: SIGKILL, OOM, power loss
        reason = reason or f"run {run.status.value} while this trial was running; resumed"
        end = run.heartbeat.get("at") or run.ended_at or time.time()
        for child in self.client.search(f"tags.`{RUN}` = {quoted(run.run_id)} AND tags.`{TYPE}` = 'trial' AND "
                                        f"tags.`{STATE}` = 'RUNNING'", [parent.info.experiment_id]):
            record = unpacked(child.data.tags, RECORD)
            ended = max(end, record["started_at"])
            record.update(state=TrialState.INTERRUPTED.value, ended_at=ended, error=record.get("error") or reason,
                          extra={**record.get("extra", {}), **({"process_died": True} if died else {})})
            self._batch("to close a trial", child.info.run_id,
                        tags={**packed(RECORD, record), STATE: TrialState.INTERRUPTED.value})
            self._terminate(child.info.run_id, TrialState.INTERRUPTED.value, ended)
            self._states[record["trial_id"]] = TrialState.INTERRUPTED.value

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            parent = self._parent(run_id)
            for child in list(self.client.search(f"tags.`{RUN}` = {quoted(run_id)}", [parent.info.experiment_id])):
                self.client.call("to delete a trial", lambda c=child: self.mlflow.delete_run(c.info.run_id))
                self._ids.pop(child.data.tags.get("autosearch.id", ""), None)
            self.client.call("to delete a run", lambda: self.mlflow.delete_run(parent.info.run_id))
            self._ids.pop(run_id, None)
            self._states.pop(run_id, None)

    def set_tags(self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()) -> None:
        tags, remove = check_tags(tags, remove), list(remove)
        with self._lock:
            parent = self._parent(run_id)
            mid = parent.info.run_id
            for key in remove:
                if key in parent.data.tags and key not in tags:
                    self.client.call("to remove a tag", lambda k=key: self.mlflow.delete_tag(mid, k))
            self._batch("to set tags", mid, tags=tags)

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        name, note = check_name(name), check_note(note)
        with self._lock:
            parent = self._parent(run_id)
            mid = parent.info.run_id
            for key, value in ((NAME, name), (NOTE, note)):
                if value:
                    self._batch("to describe a run", mid, tags={key: value})
                elif value == "" and key in parent.data.tags:
                    self.client.call("to describe a run", lambda k=key: self.mlflow.delete_tag(mid, k))
            if name is not None:
                self.client.call("to name a run", lambda: self.mlflow.update_run(mid, name=name or run_id))

    # -- trials ---------------------------------------------------------------------
    def log_trial(self, trial: TrialRecord) -> None:
        epochs = [e.epoch for e in trial.epochs]
        if len(set(epochs)) != len(epochs):
            raise TrackerError(f"trial '{trial.trial_id}' lists an epoch twice ({sorted(epochs)}); "
                               "give each epoch once.")
        from mlflow.entities import Metric

        with self._lock:
            parent_id, eid = self._ids_of(trial.run_id, "run")
            if self._find(trial.trial_id, "trial", [eid]) is not None:
                raise TrackerError(f"trial '{trial.trial_id}' already exists in {self.uri}.")
            created = self.client.call("to start a trial", lambda: self.mlflow.create_run(
                eid, start_time=_ms(trial.started_at), tags=trial_tags(trial, parent_id)))
            mid = created.info.run_id
            self._ids[trial.trial_id] = (mid, eid)
            self._states[trial.trial_id] = TrialState(trial.state).value
            metrics = [Metric(k, float(v), _ms(e.timestamp), e.epoch)
                       for e in trial.epochs for k, v in e.metrics.items()]
            self._batch("to record a trial", mid, params=trial_params(trial.hyperparameters), metrics=metrics)
            self._log_hyperparameters(mid, trial.hyperparameters)
            if trial.state.is_finished():
                self._terminate(mid, TrialState(trial.state).value, trial.ended_at)

    def _running_trial(self, trial_id: str) -> tuple[str, Any | None]:
        """(MLflow id, the child run when it was read) of a RUNNING trial; raises for unknown or finished ones."""
        child = None
        if trial_id not in self._states:
            child = self._child(trial_id)
            self._states[trial_id] = child.data.tags[STATE]
        if self._states[trial_id] != TrialState.RUNNING.value:
            raise TrialFinishedError(f"trial '{trial_id}' is {self._states[trial_id]}; finished trials are read-only.")
        return self._ids_of(trial_id, "trial")[0], child

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        from mlflow.entities import Metric

        with self._lock:
            mid, _ = self._running_trial(trial_id)
            self._batch("to record an epoch", mid, metrics=[
                Metric(k, float(v), _ms(epoch.timestamp), epoch.epoch) for k, v in epoch.metrics.items()])

    def finish_trial(self, trial_id: str, state: TrialState, *, ended_at: float, objective: float | None = None,
                     best_epoch: int | None = None, trainable_params: int | None = None, error: str | None = None,
                     extra: Mapping[str, Any] | None = None, hyperparameters: Mapping[str, Any] | None = None) -> None:
        state = TrialState(state)
        if not state.is_finished():
            raise ValueError("finish_trial needs a finished state, got RUNNING")
        with self._lock:
            self._running_trial(trial_id)
            child = self._child(trial_id)  # the record as stored, fresh
            if child.data.tags[STATE] != TrialState.RUNNING.value:
                self._states[trial_id] = child.data.tags[STATE]
                self._running_trial(trial_id)  # raises TrialFinishedError
            self._finish(child, state, ended_at, objective=objective, best_epoch=best_epoch,
                         trainable_params=trainable_params, error=error, extra=extra, hyperparameters=hyperparameters)
            self._states[trial_id] = state.value

    def _finish(self, child: Any, state: TrialState, ended_at: float, *, extra: Mapping[str, Any] | None,
                hyperparameters: Mapping[str, Any] | None, **result: Any) -> None:
        from mlflow.entities import Metric

        mid, record = child.info.run_id, unpacked(child.data.tags, RECORD)
        record.update(state=state.value, ended_at=ended_at, **result, extra={**record["extra"], **(extra or {})})
        new_params = {}
        if hyperparameters is not None:
            record["hyperparameters"] = dict(hyperparameters)
            new_params = {k: v for k, v in trial_params(hyperparameters).items() if k not in child.data.params}
        objective = result.get("objective")
        metrics = [Metric(OBJECTIVE_METRIC, float(objective), _ms(ended_at), result.get("best_epoch") or 0)] \
            if objective is not None and math.isfinite(objective) else []
        self._batch("to finish a trial", mid, tags={**packed(RECORD, record), STATE: state.value},
                    params=new_params, metrics=metrics)
        if hyperparameters is not None:
            self._log_hyperparameters(mid, hyperparameters)
        if state in (TrialState.FAILED, TrialState.INVALID):
            self._log_traceback(child, record)
        self._terminate(mid, state.value, ended_at)
