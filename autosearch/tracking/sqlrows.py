"""Rows to records for the SQL tracker: column lists, JSON as TEXT, and liveness applied on read.

A RUNNING run whose process is dead (``liveness.stopped``) is returned as
INTERRUPTED with the reason in ``summary["error"]``, and its RUNNING trials
as INTERRUPTED; the rows themselves are left as they are.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping, Sequence

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
)
from autosearch.tracking.sqlschema import Dialect

RUN_COLUMNS = ("run_id, pipeline, task, dataset, seed, status, started_at, ended_at, best_trial_id, config, data,"
               " environment, summary, hb_pid, hb_host, hb_at, name, note, tags")
TRIAL_COLUMNS = ("trial_id, run_id, kind, state, hyperparameters, seed, started_at, ended_at, objective, best_epoch,"
                 " trainable_params, error, reproduces, extra")
EPOCH_COLUMNS = "trial_id, epoch, metrics, timestamp"
_STATES = {s.value: s for s in TrialState}  # a dict lookup is several times cheaper than Enum(value)
_KINDS = {k.value: k for k in TrialKind}


def dumps(value: Any, keep_order: bool = False) -> str:
    """JSON of a record's field; keys sorted unless their order means something (a pipeline's ``[graph]``
    nodes are in declaration order, which is the order a model takes its inputs)."""
    return json.dumps(value, sort_keys=not keep_order, default=str)


class Tx:
    """A cursor that speaks the dialect; rows are read by column name."""

    def __init__(self, cursor: Any, dialect: Dialect):
        self.cursor, self.dialect = cursor, dialect

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        self.cursor.execute(self.dialect.sql(sql), args)
        return self.cursor.fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        self.cursor.execute(self.dialect.sql(sql), args)
        return self.cursor.fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        self.cursor.execute(self.dialect.sql(sql), args)
        return self.cursor.rowcount

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.cursor.executemany(self.dialect.sql(sql), rows)


def run_values(run: RunInfo) -> tuple[Any, ...]:
    """``RUN_COLUMNS`` of a run, in order."""
    hb = run.heartbeat
    return (run.run_id, run.pipeline, run.task, run.dataset, run.seed, RunStatus(run.status).value, run.started_at,
            run.ended_at, run.best_trial_id, dumps(run.config, keep_order=True), dumps(run.data),
            dumps(run.environment), dumps(run.summary), hb.get("pid"), hb.get("host"), hb.get("at"),
            check_name(run.name) or None, check_note(run.note) or None, dumps(check_tags(run.tags)))


def trial_values(trial: TrialRecord) -> tuple[Any, ...]:
    """``TRIAL_COLUMNS`` of a trial, in order."""
    return (trial.trial_id, trial.run_id, TrialKind(trial.kind).value, TrialState(trial.state).value,
            dumps(trial.hyperparameters), trial.seed, trial.started_at, trial.ended_at, trial.objective,
            trial.best_epoch, trial.trainable_params, trial.error, trial.reproduces, dumps(trial.extra))


def _heartbeat(row: Any) -> dict[str, Any]:
    return {"pid": row["hb_pid"], "host": row["hb_host"], "at": row["hb_at"]} if row["hb_at"] else {}


def run_from_row(row: Any, live: bool = True) -> RunInfo:
    """The run of a ``runs`` row; with ``live``, a dead RUNNING run reads INTERRUPTED."""
    heartbeat = _heartbeat(row)
    run = RunInfo(
        run_id=row["run_id"], pipeline=row["pipeline"], task=row["task"], dataset=row["dataset"],
        seed=row["seed"], started_at=row["started_at"], config=json.loads(row["config"]),
        data=json.loads(row["data"]), environment=json.loads(row["environment"]),
        status=RunStatus(row["status"]), ended_at=row["ended_at"], best_trial_id=row["best_trial_id"],
        summary=json.loads(row["summary"]), heartbeat=heartbeat, name=row["name"], note=row["note"],
        tags=json.loads(row["tags"]))
    if live and run.status is RunStatus.RUNNING:
        reason = liveness.stopped(run.run_id, heartbeat, run.started_at)
        if reason:
            return dataclasses.replace(run, status=RunStatus.INTERRUPTED, summary={**run.summary, "error": reason})
    return run


def trial_from_row(row: Any, dead: Mapping[str, str], epochs: Sequence[EpochMetrics] = ()) -> TrialRecord:
    """The trial of a ``trials`` row; RUNNING in a run of ``dead`` (run id -> why) reads INTERRUPTED."""
    state, error = _STATES[row["state"]], row["error"]
    if state is TrialState.RUNNING and row["run_id"] in dead:
        state, error = TrialState.INTERRUPTED, error or dead[row["run_id"]]
    extra = row["extra"]
    return TrialRecord(
        trial_id=row["trial_id"], run_id=row["run_id"], kind=_KINDS[row["kind"]], state=state,
        hyperparameters=json.loads(row["hyperparameters"]), seed=row["seed"], started_at=row["started_at"],
        ended_at=row["ended_at"], objective=row["objective"], best_epoch=row["best_epoch"],
        trainable_params=row["trainable_params"], error=error, reproduces=row["reproduces"],
        extra={} if extra == "{}" else json.loads(extra), epochs=tuple(epochs))


def epochs_by_trial(rows: Iterable[Any]) -> dict[str, list[EpochMetrics]]:
    out: dict[str, list[EpochMetrics]] = {}
    for r in rows:
        out.setdefault(r["trial_id"], []).append(EpochMetrics(r["epoch"], json.loads(r["metrics"]), r["timestamp"]))
    return out


def dead_runs(tx: Tx, run_id: str | None = None) -> dict[str, str]:
    """run id -> why, for the stored-RUNNING runs (or the one given) whose process is gone."""
    sql = "SELECT run_id, started_at, hb_pid, hb_host, hb_at FROM runs WHERE status=?"
    args: list[Any] = [RunStatus.RUNNING.value]
    if run_id is not None:
        sql, args = sql + " AND run_id=?", [*args, run_id]
    dead = {}
    for r in tx.all(sql, args):
        if (reason := liveness.stopped(r["run_id"], _heartbeat(r), r["started_at"])) is not None:
            dead[r["run_id"]] = reason
    return dead


def ran_so_far(run: RunInfo) -> float:
    """Seconds a stopped run has searched, over all its attempts: what its ``finish_run`` recorded, or for a
    killed attempt the time before (kept at its restart) plus that attempt's start to its last heartbeat."""
    if run.ended_at is not None and run.duration is not None:
        return run.duration
    since = run.summary.get("resumed_at", run.started_at)
    before = run.summary.get("duration", 0.0) if "resumed_at" in run.summary else 0.0
    end = run.ended_at if run.ended_at is not None else (run.heartbeat.get("at") or since)
    return before + max(float(end) - float(since), 0.0)


def where_in(filters: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """`` WHERE column IN (...) AND ...`` for the (column, values) pairs whose values are not None."""
    where, args = [], []
    for column, values in filters:
        if values is not None:
            values = [getattr(v, "value", v) for v in values]
            where.append(f"{column} IN ({','.join('?' * len(values))})" if values else "1=0")
            args.extend(values)
    return (f" WHERE {' AND '.join(where)}" if where else ""), args
