"""Runs and trials as MLflow runs: the tags that hold each record whole, and what MLflow's own UI shows.

A search is a parent MLflow run, each trial a child run (``mlflow.parentRunId``). The record is kept in
``autosearch.*`` tags so that it reads back exactly (typed JSON; a value over MLflow's 8,000-character tag
limit is split over numbered tags): ``autosearch.record`` (what never changes), ``autosearch.outcome``
(status, end, best trial, summary), ``autosearch.heartbeat``. Beside it, for people: the run name, the
note (``mlflow.note.content``), the data fingerprint, package versions and the git commit
(``mlflow.source.git.commit``) as tags, the pipeline as params; a trial's hyperparameters as params, its
epochs as metrics with ``step`` = epoch. Nothing here calls MLflow.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping

from autosearch.fileio import flatten
from autosearch.tracking import liveness
from autosearch.tracking.records import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrialKind,
    TrialRecord,
    TrialState,
    check_name,
    check_note,
    check_tags,
    split_trial_id,
)

ID, TYPE, RUN = "autosearch.id", "autosearch.type", "autosearch.run_id"
KIND, STATE = "autosearch.kind", "autosearch.state"
RECORD, OUTCOME, HEARTBEAT, NAME = "autosearch.record", "autosearch.outcome", "autosearch.heartbeat", "autosearch.name"
EXPERIMENT_TAG = "autosearch.experiment"
PARENT, RUN_NAME, NOTE, GIT = "mlflow.parentRunId", "mlflow.runName", "mlflow.note.content", "mlflow.source.git.commit"
OBJECTIVE_METRIC = "autosearch.objective"  # a finished trial's objective (step = best epoch), for sorting in MLflow
MAX_TAG, MAX_PARAM, MAX_KEY = 8000, 6000, 250  # MLflow's limits on tag values, param values and keys
_CHUNKS = "autosearch-chunks:"
# an autosearch state -> MLflow's RunStatus name: an interrupted trial or run is KILLED, never FINISHED
MLFLOW_STATUS = {"RUNNING": "RUNNING", "COMPLETED": "FINISHED", "FAILED": "FAILED", "INVALID": "FAILED",
                 "INTERRUPTED": "KILLED"}


def packed(key: str, value: Any) -> dict[str, str]:
    """``value`` as JSON under ``key``; over MLflow's tag limit, as ``key.0``, ``key.1``... and a count at ``key``."""
    text = json.dumps(value, default=str)
    if len(text) <= MAX_TAG:
        return {key: text}
    parts = [text[i:i + MAX_TAG] for i in range(0, len(text), MAX_TAG)]
    return {key: f"{_CHUNKS}{len(parts)}", **{f"{key}.{i}": p for i, p in enumerate(parts)}}


def unpacked(tags: Mapping[str, str], key: str, default: Any = None) -> Any:
    text = tags.get(key)
    if text is None:
        return default
    if text.startswith(_CHUNKS):
        text = "".join(tags[f"{key}.{i}"] for i in range(int(text[len(_CHUNKS):])))
    return json.loads(text)


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The run's own tags (``Tracker.set_tags``): every tag outside ``autosearch.`` and ``mlflow.``."""
    return {k: v for k, v in tags.items() if not k.startswith(("autosearch.", "mlflow."))}


def outcome_of(run: RunInfo) -> dict[str, Any]:
    return {"status": RunStatus(run.status).value, "ended_at": run.ended_at, "best_trial_id": run.best_trial_id,
            "summary": dict(run.summary)}


def run_tags(run: RunInfo) -> dict[str, str]:
    """Every tag of a new parent run: the record, and what MLflow's UI shows of it."""
    name, note = check_name(run.name) or None, check_note(run.note) or None
    record = {"pipeline": run.pipeline, "task": run.task, "dataset": run.dataset, "seed": run.seed,
              "started_at": run.started_at, "config": dict(run.config), "data": dict(run.data),
              "environment": dict(run.environment)}
    tags = {ID: run.run_id, TYPE: "run", RUN_NAME: name or run.run_id, **packed(RECORD, record),
            **packed(OUTCOME, outcome_of(run)), HEARTBEAT: json.dumps(dict(run.heartbeat)),
            "autosearch.pipeline": run.pipeline, "autosearch.task": run.task, "autosearch.dataset": run.dataset,
            "autosearch.fingerprint": str(run.fingerprint or "")}
    for package, version in (run.environment.get("versions") or {}).items():
        if version:
            tags[f"autosearch.version.{package}"[:MAX_KEY]] = str(version)
    if (git := run.environment.get("git") or {}).get("commit"):
        tags[GIT] = str(git["commit"])
        tags["autosearch.git_dirty"] = str(bool(git.get("dirty"))).lower()
    if name:
        tags[NAME] = name
    if note:
        tags[NOTE] = note
    return {**tags, **check_tags(run.tags)}


def run_params(run: RunInfo) -> dict[str, str]:
    """The pipeline as MLflow params (``search/max_trials``...): shown and compared in MLflow's UI."""
    flat = flatten({k: v for k, v in run.config.items() if k != "source"}, sep="/")
    out = {k[:MAX_KEY]: (v if isinstance(v, str) else json.dumps(v, default=str))[:MAX_PARAM] for k, v in flat.items()}
    return {**out, "seed": str(run.seed)}


def run_from_tags(tags: Mapping[str, str], live: bool = True) -> RunInfo:
    """The run a parent's tags hold; with ``live``, a dead RUNNING run reads INTERRUPTED (``liveness``)."""
    record, outcome = unpacked(tags, RECORD), unpacked(tags, OUTCOME)
    run = RunInfo(run_id=tags[ID], **record, status=RunStatus(outcome["status"]), ended_at=outcome["ended_at"],
                  best_trial_id=outcome["best_trial_id"], summary=outcome["summary"],
                  heartbeat=unpacked(tags, HEARTBEAT, {}), name=tags.get(NAME), note=tags.get(NOTE),
                  tags=user_tags(tags))
    if live and run.status is RunStatus.RUNNING:
        reason = liveness.stopped(run.run_id, run.heartbeat, run.started_at)
        if reason:
            return dataclasses.replace(run, status=RunStatus.INTERRUPTED, summary={**run.summary, "error": reason})
    return run


def trial_tags(trial: TrialRecord, parent: str) -> dict[str, str]:
    """Every tag of a new child run: the record (without epochs: they are metrics), kind, state, parent."""
    record = {k: v for k, v in trial.to_dict().items() if k != "epochs"}
    return {ID: trial.trial_id, TYPE: "trial", RUN: trial.run_id, PARENT: parent, KIND: TrialKind(trial.kind).value,
            STATE: TrialState(trial.state).value, RUN_NAME: split_trial_id(trial.trial_id)[1] or trial.trial_id,
            **packed(RECORD, record)}


def trial_params(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    return {str(k)[:MAX_KEY]: (v if isinstance(v, str) else json.dumps(v, default=str))[:MAX_PARAM]
            for k, v in hyperparameters.items()}


def trial_from_tags(tags: Mapping[str, str], dead: Mapping[str, str],
                    epochs: Iterable[EpochMetrics] = ()) -> TrialRecord:
    """The trial a child's tags hold; RUNNING in a run of ``dead`` (run id -> why) reads INTERRUPTED."""
    trial = TrialRecord.from_dict({**unpacked(tags, RECORD), "epochs": []})
    trial = dataclasses.replace(trial, epochs=tuple(epochs))
    if trial.state is TrialState.RUNNING and trial.run_id in dead:
        return dataclasses.replace(trial, state=TrialState.INTERRUPTED, error=trial.error or dead[trial.run_id])
    return trial


def epochs_from_history(history: Mapping[str, Iterable[Any]]) -> tuple[EpochMetrics, ...]:
    """Epochs from metric histories (key -> MLflow ``Metric``s): an epoch logged again replaces the earlier
    one whole, so each step keeps the values logged at its latest timestamp."""
    points: dict[int, dict[str, tuple[int, float]]] = {}
    for key, metrics in history.items():
        for m in metrics:
            kept = points.setdefault(int(m.step), {}).get(key)
            if kept is None or m.timestamp >= kept[0]:
                points[m.step][key] = (int(m.timestamp), float(m.value))
    out = []
    for step in sorted(points):
        last = max(ts for ts, _ in points[step].values())
        out.append(EpochMetrics(step, {k: v for k, (ts, v) in points[step].items() if ts == last}, last / 1000.0))
    return tuple(out)
