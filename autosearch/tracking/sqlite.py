"""The embedded default tracker: one SQLite file in WAL mode.

WAL lets a leaderboard read while a search writes. Every public write is one
transaction, so a crash leaves the previous consistent state behind.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from autosearch.errors import (
    TrackerError,
    TrialFinishedError,
    UnknownRunError,
    UnknownTrialError,
)
from autosearch.tracking.base import Tracker
from autosearch.tracking.records import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrialKind,
    TrialRecord,
    TrialState,
)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    task TEXT NOT NULL,
    dataset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    best_trial_id TEXT,
    config TEXT NOT NULL,
    data TEXT NOT NULL,
    environment TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    hyperparameters TEXT NOT NULL,
    seed INTEGER,
    started_at REAL NOT NULL,
    ended_at REAL,
    objective REAL,
    best_epoch INTEGER,
    trainable_params INTEGER,
    error TEXT,
    reproduces TEXT,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trials_by_run ON trials(run_id, started_at);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials(run_id, state);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id TEXT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    timestamp REAL NOT NULL,
    PRIMARY KEY (trial_id, epoch)
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class SQLiteTracker(Tracker):
    """Tracker backed by a local SQLite database file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.uri = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise TrackerError(f"cannot open tracker {self.uri} ({exc}); give a path to a database file.") from None
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            self._conn.close()
            raise TrackerError(f"{self.path} is not an autosearch tracker database ({exc}); "
                               "point --tracker at another file.") from None

    # -- plumbing ---------------------------------------------------------
    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self) -> "_Tx":
        return SQLiteTracker._Tx(self._conn)

    def close(self) -> None:
        self._conn.close()

    def _run_exists(self, conn: sqlite3.Connection, run_id: str) -> bool:
        return conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is not None

    def _unknown_trial(self, trial_id: str) -> UnknownTrialError:
        return UnknownTrialError(
            f"trial '{trial_id}' not found in {self.uri}; run 'autosearch leaderboard' to list ids."
        )

    def _unknown_run(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(f"run '{run_id}' not found in {self.uri}; run 'autosearch runs' to list ids.")

    def _running_state(self, conn: sqlite3.Connection, trial_id: str) -> None:
        row = conn.execute("SELECT state FROM trials WHERE trial_id=?", (trial_id,)).fetchone()
        if row is None:
            raise self._unknown_trial(trial_id)
        if TrialState(row["state"]).is_finished():
            raise TrialFinishedError(f"trial '{trial_id}' is {row['state']}; finished trials are read-only.")

    # -- writes -----------------------------------------------------------
    def start_run(self, run: RunInfo) -> None:
        with self._transaction() as conn:
            if self._run_exists(conn, run.run_id):
                raise TrackerError(f"run '{run.run_id}' already exists in {self.uri}.")
            conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.run_id, run.pipeline, run.task, run.dataset, run.seed, run.status.value,
                    run.started_at, run.ended_at, run.best_trial_id, _dumps(run.config),
                    _dumps(run.data), _dumps(run.environment), _dumps(run.summary),
                ),
            )

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        ended_at: float,
        best_trial_id: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        with self._transaction() as conn:
            row = conn.execute("SELECT summary FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise self._unknown_run(run_id)
            merged = {**json.loads(row["summary"]), **(summary or {})}
            conn.execute(
                "UPDATE runs SET status=?, ended_at=?, best_trial_id=?, summary=? WHERE run_id=?",
                (RunStatus(status).value, ended_at, best_trial_id, _dumps(merged), run_id),
            )

    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        with self._transaction() as conn:
            row = conn.execute("SELECT summary FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise self._unknown_run(run_id)
            summary = json.loads(row["summary"])
            summary["artifacts"] = {**summary.get("artifacts", {}), name: str(path)}
            conn.execute("UPDATE runs SET summary=? WHERE run_id=?", (_dumps(summary), run_id))

    def log_trial(self, trial: TrialRecord) -> None:
        with self._transaction() as conn:
            if not self._run_exists(conn, trial.run_id):
                raise self._unknown_run(trial.run_id)
            try:
                conn.execute(
                    "INSERT INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        trial.trial_id, trial.run_id, trial.kind.value, trial.state.value,
                        _dumps(trial.hyperparameters), trial.seed, trial.started_at, trial.ended_at,
                        trial.objective, trial.best_epoch, trial.trainable_params, trial.error,
                        trial.reproduces, _dumps(trial.extra),
                    ),
                )
            except sqlite3.IntegrityError:
                raise TrackerError(f"trial '{trial.trial_id}' already exists in {self.uri}.") from None
            conn.executemany(
                "INSERT INTO epochs VALUES (?,?,?,?)",
                [(trial.trial_id, e.epoch, _dumps(dict(e.metrics)), e.timestamp) for e in trial.epochs],
            )

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        with self._transaction() as conn:
            self._running_state(conn, trial_id)
            conn.execute(
                "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?)",
                (trial_id, epoch.epoch, _dumps(dict(epoch.metrics)), epoch.timestamp),
            )

    def finish_trial(
        self,
        trial_id: str,
        state: TrialState,
        *,
        ended_at: float,
        objective: float | None = None,
        best_epoch: int | None = None,
        trainable_params: int | None = None,
        error: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        state = TrialState(state)
        if not state.is_finished():
            raise ValueError("finish_trial needs a finished state, got RUNNING")
        with self._transaction() as conn:
            self._running_state(conn, trial_id)
            old = json.loads(
                conn.execute("SELECT extra FROM trials WHERE trial_id=?", (trial_id,)).fetchone()["extra"]
            )
            conn.execute(
                "UPDATE trials SET state=?, ended_at=?, objective=?, best_epoch=?, trainable_params=?,"
                " error=?, extra=? WHERE trial_id=?",
                (
                    state.value, ended_at, objective, best_epoch, trainable_params, error,
                    _dumps({**old, **(extra or {})}), trial_id,
                ),
            )

    # -- reads ------------------------------------------------------------
    @staticmethod
    def _run_from_row(row: sqlite3.Row) -> RunInfo:
        return RunInfo(
            run_id=row["run_id"], pipeline=row["pipeline"], task=row["task"], dataset=row["dataset"],
            seed=row["seed"], started_at=row["started_at"], config=json.loads(row["config"]),
            data=json.loads(row["data"]), environment=json.loads(row["environment"]),
            status=RunStatus(row["status"]), ended_at=row["ended_at"],
            best_trial_id=row["best_trial_id"], summary=json.loads(row["summary"]),
        )

    @staticmethod
    def _trial_from_row(row: sqlite3.Row, epochs: tuple[EpochMetrics, ...] = ()) -> TrialRecord:
        return TrialRecord(
            trial_id=row["trial_id"], run_id=row["run_id"], kind=TrialKind(row["kind"]),
            state=TrialState(row["state"]), hyperparameters=json.loads(row["hyperparameters"]),
            seed=row["seed"], started_at=row["started_at"], ended_at=row["ended_at"],
            objective=row["objective"], best_epoch=row["best_epoch"],
            trainable_params=row["trainable_params"], error=row["error"],
            reproduces=row["reproduces"], extra=json.loads(row["extra"]), epochs=epochs,
        )

    def _epochs(self, trial_ids: list[str]) -> dict[str, list[EpochMetrics]]:
        out: dict[str, list[EpochMetrics]] = {t: [] for t in trial_ids}
        for chunk in _chunks(trial_ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                f"SELECT * FROM epochs WHERE trial_id IN ({marks}) ORDER BY trial_id, epoch", chunk
            ):
                out[row["trial_id"]].append(
                    EpochMetrics(row["epoch"], json.loads(row["metrics"]), row["timestamp"])
                )
        return out

    def get_run(self, run_id: str) -> RunInfo:
        row = self._conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise self._unknown_run(run_id)
        return self._run_from_row(row)

    def list_runs(self) -> list[RunInfo]:
        rows = self._conn.execute("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC")
        return [self._run_from_row(r) for r in rows]

    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        row = self._conn.execute("SELECT * FROM trials WHERE trial_id=?", (trial_id,)).fetchone()
        if row is None:
            raise self._unknown_trial(trial_id)
        epochs = tuple(self._epochs([trial_id])[trial_id]) if with_epochs else ()
        return self._trial_from_row(row, epochs)

    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        if not self._run_exists(self._conn, run_id):
            raise self._unknown_run(run_id)
        rows = self._conn.execute(
            "SELECT * FROM trials WHERE run_id=? ORDER BY started_at, trial_id", (run_id,)
        ).fetchall()
        epochs = self._epochs([r["trial_id"] for r in rows]) if with_epochs else {}
        return [self._trial_from_row(r, tuple(epochs.get(r["trial_id"], ()))) for r in rows]


    def find_trials(
        self,
        run_ids: Sequence[str] | None = None,
        *,
        states: Sequence[TrialState] | None = None,
        kinds: Sequence[TrialKind] | None = None,
    ) -> list[TrialRecord]:
        where, args = [], []
        for column, values in (("run_id", run_ids), ("state", states), ("kind", kinds)):
            if values is not None:
                values = [getattr(v, "value", v) for v in values]
                where.append(f"{column} IN ({','.join('?' * len(values))})" if values else "0")
                args.extend(values)
        sql = "SELECT * FROM trials" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self._conn.execute(sql + " ORDER BY run_id, started_at, trial_id", args).fetchall()
        return [self._trial_from_row(r) for r in rows]

    def delete_run(self, run_id: str) -> None:
        with self._transaction() as conn:
            if not self._run_exists(conn, run_id):
                raise self._unknown_run(run_id)
            conn.execute("DELETE FROM runs WHERE run_id=?", (run_id,))  # trials, epochs cascade


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
