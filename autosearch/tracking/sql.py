"""The tracker contract in SQL: one implementation for SQLite and PostgreSQL.

A backend hands over a DB-API connection in autocommit mode and a ``Dialect``
(``sqlschema.py``). Every public write is one transaction started with the
dialect's ``begin`` (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``BEGIN`` with
``SELECT ... FOR UPDATE`` where a read-modify-write needs it), retried while
the database is busy until the lock deadline, then a one-line ``TrackerError``.
One lock guards the connection, so a heartbeat thread can call the tracker
while the main thread writes. Reads apply liveness (``liveness.py``) and
never write.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

from autosearch.errors import (
    TrackerError,
    TrackerLockedError,
    TrialFinishedError,
    UnknownRunError,
    UnknownTrialError,
)
from autosearch.tracking import liveness, sqlschema
from autosearch.tracking.base import Tracker
from autosearch.tracking.records import EpochMetrics, RunInfo, RunStatus, TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlrows import (
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    TRIAL_COLUMNS,
    Tx,
    dead_runs,
    dumps,
    epochs_by_trial,
    ran_so_far,
    run_from_row,
    run_values,
    trial_from_row,
    trial_values,
    where_in,
)
from autosearch.tracking.sqllabels import LabelWrites
from autosearch.tracking.sqlschema import Dialect

T = TypeVar("T")
DEFAULT_LOCK_TIMEOUT = 60.0


def lock_timeout(value: float | None = None) -> float:
    """Seconds a write waits for another writer: ``value``, else ``AUTOSEARCH_LOCK_TIMEOUT``, else 60."""
    if value is not None:
        return float(value)
    raw = os.environ.get("AUTOSEARCH_LOCK_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        raise TrackerError(f"AUTOSEARCH_LOCK_TIMEOUT={raw!r} is not a number of seconds; e.g. 60.") from None


class SQLTracker(LabelWrites, Tracker):
    """A tracker on a SQL database; ``sqlite.SQLiteTracker`` and ``sqlpostgres.PostgreSQLTracker`` connect it."""

    integrity_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, conn: Any, dialect: Dialect, uri: str, lock_seconds: float):
        self._conn, self.dialect, self.uri, self.lock_timeout = conn, dialect, uri, lock_seconds
        self._lock = threading.RLock()
        sqlschema.ensure(self)

    # -- hooks for the backends -------------------------------------------
    def _is_busy(self, exc: BaseException) -> bool:
        """The database is locked by another writer: worth waiting and retrying."""
        return False

    def _lock_error(self) -> TrackerLockedError:
        return TrackerLockedError(f"another process holds the write lock on {self.uri} for over {self.lock_timeout:g} s; "
                            "wait for it to finish, or raise AUTOSEARCH_LOCK_TIMEOUT.")

    def _translate(self, exc: BaseException) -> BaseException | None:
        """A one-line ``TrackerError`` for a database error the user can act on (connection lost), else None."""
        return None

    # -- plumbing ---------------------------------------------------------
    def _read(self, fn: Callable[[Tx], T]) -> T:
        with self._lock:
            try:
                return fn(Tx(self._conn.cursor(), self.dialect))
            except Exception as exc:
                if (translated := self._translate(exc)) is not None:
                    raise translated from None
                raise

    def _write(self, fn: Callable[[Tx], T], single: bool = False) -> T:
        """Run ``fn`` in one write transaction (or, ``single``, as one autocommitted statement plus reads);
        retried while busy until ``lock_timeout`` has passed."""
        with self._lock:
            deadline, delay = time.monotonic() + self.lock_timeout, 0.01
            while True:
                tx = Tx(self._conn.cursor(), self.dialect)
                try:
                    if not single:
                        tx.run(self.dialect.begin)
                    result = fn(tx)
                    if not single:
                        tx.run("COMMIT")
                    return result
                except BaseException as exc:
                    self._rollback()
                    if not isinstance(exc, Exception):
                        raise
                    if self._is_busy(exc):
                        if time.monotonic() + delay < deadline:
                            time.sleep(delay)
                            delay = min(delay * 2, 0.5)
                            continue
                        raise self._lock_error() from None
                    if (translated := self._translate(exc)) is not None:
                        raise translated from None
                    raise

    def _rollback(self) -> None:
        try:
            self._conn.cursor().execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - no transaction open, or the connection is gone
            pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _unknown_trial(self, trial_id: str) -> UnknownTrialError:
        return UnknownTrialError(f"trial '{trial_id}' not found in {self.uri}; run 'autosearch leaderboard' to list ids.")

    def _unknown_run(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(f"run '{run_id}' not found in {self.uri}; run 'autosearch runs' to list ids.")

    def _run_row(self, tx: Tx, run_id: str, lock: str = "", columns: str = "*") -> Any:
        row = tx.one(f"SELECT {columns} FROM runs WHERE run_id=?{lock}", (run_id,))
        if row is None:
            raise self._unknown_run(run_id)
        return row

    def _running_trial(self, tx: Tx, trial_id: str) -> Any:
        row = tx.one(f"SELECT state, extra FROM trials WHERE trial_id=?{self.dialect.for_update}", (trial_id,))
        if row is None:
            raise self._unknown_trial(trial_id)
        if TrialState(row["state"]).is_finished():
            raise TrialFinishedError(f"trial '{trial_id}' is {row['state']}; finished trials are read-only.")
        return row

    # -- writes -----------------------------------------------------------
    def start_run(self, run: RunInfo) -> None:
        def write(tx: Tx) -> None:
            if tx.one("SELECT 1 FROM runs WHERE run_id=?", (run.run_id,)) is not None:
                raise TrackerError(f"run '{run.run_id}' already exists in {self.uri}.")
            tx.run(f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({','.join('?' * len(RUN_COLUMNS.split(',')))})",
                   run_values(run))

        self._duplicate_guard(lambda: self._write(write), f"run '{run.run_id}'")

    def _duplicate_guard(self, call: Callable[[], None], what: str) -> None:
        try:
            call()
        except self.integrity_errors:  # a concurrent writer inserted the same id between check and insert
            raise TrackerError(f"{what} already exists in {self.uri}.") from None

    def finish_run(self, run_id: str, status: RunStatus, *, ended_at: float, best_trial_id: str | None = None,
                   summary: Mapping[str, Any] | None = None) -> None:
        def write(tx: Tx) -> None:
            row = self._run_row(tx, run_id, self.dialect.for_update, "summary")
            merged = {**json.loads(row["summary"]), **(summary or {})}
            tx.run("UPDATE runs SET status=?, ended_at=?, best_trial_id=?, summary=? WHERE run_id=?",
                   (RunStatus(status).value, ended_at, best_trial_id, dumps(merged), run_id))

        self._write(write)

    def log_artifact(self, run_id: str, name: str, path: Any) -> None:
        def write(tx: Tx) -> None:
            summary = json.loads(self._run_row(tx, run_id, self.dialect.for_update, "summary")["summary"])
            summary["artifacts"] = {**summary.get("artifacts", {}), name: str(path)}
            tx.run("UPDATE runs SET summary=? WHERE run_id=?", (dumps(summary), run_id))

        self._write(write)

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        def write(tx: Tx) -> None:  # one statement: atomic without a transaction
            if tx.run("UPDATE runs SET hb_pid=?, hb_host=?, hb_at=? WHERE run_id=? AND status=?",
                      (int(pid), str(host), float(at), run_id, RunStatus.RUNNING.value)) == 0:
                self._run_row(tx, run_id, columns="run_id")  # unknown -> UnknownRunError; finished -> ignored

        self._write(write, single=True)

    def restart_run(self, run_id: str) -> RunInfo:
        def write(tx: Tx) -> None:
            run = run_from_row(self._run_row(tx, run_id, self.dialect.for_update), live=False)
            reason = liveness.restart_reason(run)
            died = reason is not None  # the process went without closing its trial: SIGKILL, OOM, power loss
            reason = reason or f"run {run.status.value} while this trial was running; resumed"
            now = time.time()
            end = run.heartbeat.get("at") or run.ended_at or now
            for row in tx.all("SELECT trial_id, started_at, extra FROM trials WHERE run_id=? AND state=?",
                              (run_id, TrialState.RUNNING.value)):
                extra = {**json.loads(row["extra"] or "{}"), **({"process_died": True} if died else {})}
                tx.run("UPDATE trials SET state=?, ended_at=?, error=COALESCE(error, ?), extra=? WHERE trial_id=?",
                       (TrialState.INTERRUPTED.value, max(end, row["started_at"]), reason, dumps(extra),
                        row["trial_id"]))
            summary = {k: v for k, v in run.summary.items() if k != "error"}
            summary.update(duration=ran_so_far(run), resumed_at=now)
            tx.run("UPDATE runs SET status=?, ended_at=NULL, summary=?, hb_pid=?, hb_host=?, hb_at=? WHERE run_id=?",
                   (RunStatus.RUNNING.value, dumps(summary), os.getpid(), liveness.this_host(), now, run_id))

        self._write(write)
        return self.get_run(run_id)

    def log_trial(self, trial: TrialRecord) -> None:
        epochs = [e.epoch for e in trial.epochs]
        if len(set(epochs)) != len(epochs):
            raise TrackerError(f"trial '{trial.trial_id}' lists an epoch twice ({sorted(epochs)}); "
                               "give each epoch once.")

        def write(tx: Tx) -> None:  # the foreign key checks (and locks) the run: one statement fewer
            if tx.run(f"INSERT INTO trials ({TRIAL_COLUMNS}) VALUES ({','.join('?' * 14)})"
                      " ON CONFLICT (trial_id) DO NOTHING", trial_values(trial)) == 0:
                raise TrackerError(f"trial '{trial.trial_id}' already exists in {self.uri}.")
            tx.many(f"INSERT INTO epochs ({EPOCH_COLUMNS}) VALUES (?,?,?,?)",
                    [(trial.trial_id, e.epoch, dumps(dict(e.metrics)), e.timestamp) for e in trial.epochs])

        try:
            self._write(write)
        except self.integrity_errors:
            self._read(lambda tx: self._run_row(tx, trial.run_id, columns="run_id"))  # unknown run: UnknownRunError
            raise

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        def write(tx: Tx) -> None:
            self._running_trial(tx, trial_id)
            tx.run(f"INSERT INTO epochs ({EPOCH_COLUMNS}) VALUES (?,?,?,?) ON CONFLICT"
                   " (trial_id, epoch) DO UPDATE SET metrics=excluded.metrics, timestamp=excluded.timestamp",
                   (trial_id, epoch.epoch, dumps(dict(epoch.metrics)), epoch.timestamp))

        self._write(write)

    def finish_trial(self, trial_id: str, state: TrialState, *, ended_at: float, objective: float | None = None,
                     best_epoch: int | None = None, trainable_params: int | None = None, error: str | None = None,
                     extra: Mapping[str, Any] | None = None, hyperparameters: Mapping[str, Any] | None = None) -> None:
        state = TrialState(state)
        if not state.is_finished():
            raise ValueError("finish_trial needs a finished state, got RUNNING")

        def write(tx: Tx) -> None:
            old = json.loads(self._running_trial(tx, trial_id)["extra"])
            tx.run("UPDATE trials SET state=?, ended_at=?, objective=?, best_epoch=?, trainable_params=?, error=?,"
                   " extra=? WHERE trial_id=?", (state.value, ended_at, objective, best_epoch, trainable_params,
                                                  error, dumps({**old, **(extra or {})}), trial_id))
            if hyperparameters is not None:
                tx.run("UPDATE trials SET hyperparameters=? WHERE trial_id=?", (dumps(dict(hyperparameters)), trial_id))

        self._write(write)

    def delete_run(self, run_id: str) -> None:
        def write(tx: Tx) -> None:
            self._run_row(tx, run_id, self.dialect.for_update, "run_id")
            tx.run("DELETE FROM runs WHERE run_id=?", (run_id,))  # trials and epochs cascade

        self._write(write)

    # -- reads ------------------------------------------------------------
    def get_run(self, run_id: str) -> RunInfo:
        return self._read(lambda tx: run_from_row(self._run_row(tx, run_id)))

    def list_runs(self) -> list[RunInfo]:
        rows = self._read(lambda tx: tx.all("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC"))
        return [run_from_row(r) for r in rows]

    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        def read(tx: Tx) -> TrialRecord:
            row = tx.one(f"SELECT {TRIAL_COLUMNS} FROM trials WHERE trial_id=?", (trial_id,))
            if row is None:
                raise self._unknown_trial(trial_id)
            dead = dead_runs(tx, row["run_id"]) if row["state"] == TrialState.RUNNING.value else {}
            epochs = epochs_by_trial(tx.all("SELECT trial_id, epoch, metrics, timestamp FROM epochs WHERE trial_id=?"
                                         " ORDER BY epoch", (trial_id,))) if with_epochs else {}
            return trial_from_row(row, dead, epochs.get(trial_id, ()))

        return self._read(read)

    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        def read(tx: Tx) -> list[TrialRecord]:
            self._run_row(tx, run_id, columns="run_id")
            rows = tx.all(f"SELECT {TRIAL_COLUMNS} FROM trials WHERE run_id=? ORDER BY started_at, trial_id",
                          (run_id,))
            dead = dead_runs(tx, run_id) if any(r["state"] == "RUNNING" for r in rows) else {}
            epochs = epochs_by_trial(tx.all(
                "SELECT e.trial_id, e.epoch, e.metrics, e.timestamp FROM epochs e JOIN trials t"
                " ON t.trial_id=e.trial_id WHERE t.run_id=? ORDER BY e.trial_id, e.epoch", (run_id,))) \
                if with_epochs else {}
            return [trial_from_row(r, dead, epochs.get(r["trial_id"], ())) for r in rows]

        return self._read(read)

    def find_trials(self, run_ids: Sequence[str] | None = None, *, states: Sequence[TrialState] | None = None,
                    kinds: Sequence[TrialKind] | None = None, top: int | None = None) -> list[TrialRecord]:
        wanted = None if states is None else {TrialState(s) for s in states}
        stored = None if wanted is None else wanted | ({TrialState.RUNNING} if TrialState.INTERRUPTED in wanted else set())
        where, args = where_in((("run_id", run_ids), ("state", stored), ("kind", kinds)))
        sql = f"SELECT {TRIAL_COLUMNS} FROM trials{where}"
        if top is not None and stored != wanted:  # INTERRUPTED is a RUNNING row of a dead run: known once read
            return super().find_trials(run_ids, states=states, kinds=kinds, top=top)

        def read(tx: Tx) -> tuple[list[TrialRecord], set[str]]:
            minimised: set[str] = set()
            if top is None:
                rows = tx.all(sql + " ORDER BY run_id, started_at, trial_id", args)
            else:  # TrialRecord.leaderboard_key in SQL: only the first rows are read and parsed
                ranked = "state='COMPLETED' AND objective IS NOT NULL"
                run_where, run_args = where_in((("run_id", run_ids),))
                minimised = {r["run_id"] for r in tx.all(f"SELECT run_id, config FROM runs{run_where}", run_args)
                             if json.loads(r["config"]).get("search", {}).get("direction", "max") == "min"}
                sign = f"CASE WHEN run_id IN ({','.join('?' * len(minimised))}) THEN 1 ELSE -1 END" if minimised else "-1"
                rows = tx.all(sql + f" ORDER BY CASE WHEN {ranked} THEN 0 ELSE 1 END, CASE WHEN {ranked} THEN "
                              f"{sign} * objective END, started_at, trial_id LIMIT ?", [*args, *minimised, top])
            dead = dead_runs(tx) if any(r["state"] == "RUNNING" for r in rows) else {}
            return [trial_from_row(r, dead) for r in rows], minimised

        trials, minimised = self._read(read)
        found = trials if wanted is None else [t for t in trials if t.state in wanted]
        if top is not None:  # and in Python's order: the databases may break ties (collation, NULLs) differently
            found.sort(key=lambda t: t.leaderboard_key("min" if t.run_id in minimised else "max"))
        return found

    def trial_counts(self, run_ids: Sequence[str] | None = None, *,
                     kinds: Sequence[TrialKind] | None = None) -> dict[str, int]:
        where, args = where_in((("run_id", run_ids), ("kind", kinds)))
        rows = self._read(lambda tx: tx.all(f"SELECT run_id, COUNT(*) AS n FROM trials{where} GROUP BY run_id", args))
        return {r["run_id"]: r["n"] for r in rows}
