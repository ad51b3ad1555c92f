"""The tracker's SQL schema, its versions and migrations, for SQLite and PostgreSQL alike.

The version lives in the database (table ``meta``, key ``schema_version``;
SQLite also keeps it in ``PRAGMA user_version``). Version 1 (runs, trials,
epochs; ``user_version=1``) predates ``meta``. Opening a database:

- empty: the version-1 tables are created and every migration step applied
  (so a fresh database takes the same path as an upgraded one);
- older: migrated in one transaction, with one line on stderr;
- newer: refused with a ``TrackerError`` saying to upgrade autosearch.

JSON values are stored as TEXT; floats as ``REAL`` (SQLite, 8 bytes) or
``DOUBLE PRECISION`` (PostgreSQL, whose ``REAL`` has 4).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from autosearch.errors import TrackerError

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases: placeholders, types, how a write transaction starts, row locks."""

    name: str
    begin: str  # starts a write transaction
    for_update: str  # appended to a SELECT whose rows a read-modify-write changes
    for_share: str  # appended to a SELECT whose rows must not vanish before commit
    real: str
    bigint: str
    table_exists: str  # one ? for the table name
    schema_lock: str  # serialises schema creation and migration ("" when ``begin`` already does)
    qmark: bool = True  # ? placeholders (sqlite3); else %s (psycopg)

    def sql(self, text: str) -> str:
        return text if self.qmark else text.replace("?", "%s")


SQLITE = Dialect(
    name="sqlite", begin="BEGIN IMMEDIATE", for_update="", for_share="", real="REAL", bigint="INTEGER",
    table_exists="SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", schema_lock="")
POSTGRESQL = Dialect(
    name="postgresql", begin="BEGIN", for_update=" FOR UPDATE", for_share=" FOR SHARE", real="DOUBLE PRECISION",
    bigint="BIGINT", table_exists="SELECT 1 FROM information_schema.tables WHERE table_schema=current_schema()"
    " AND table_name=?", schema_lock="SELECT pg_advisory_xact_lock(7460221)", qmark=False)

_V1 = [
    """CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, task TEXT NOT NULL, dataset TEXT NOT NULL,
    seed {bigint} NOT NULL, status TEXT NOT NULL, started_at {real} NOT NULL, ended_at {real},
    best_trial_id TEXT, config TEXT NOT NULL, data TEXT NOT NULL, environment TEXT NOT NULL,
    summary TEXT NOT NULL)""",
    """CREATE TABLE trials (
    trial_id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    kind TEXT NOT NULL, state TEXT NOT NULL, hyperparameters TEXT NOT NULL, seed {bigint},
    started_at {real} NOT NULL, ended_at {real}, objective {real}, best_epoch {bigint},
    trainable_params {bigint}, error TEXT, reproduces TEXT, extra TEXT NOT NULL)""",
    "CREATE INDEX trials_by_run ON trials(run_id, started_at)",
    "CREATE INDEX trials_by_state ON trials(run_id, state)",
    """CREATE TABLE epochs (
    trial_id TEXT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE, epoch {bigint} NOT NULL,
    metrics TEXT NOT NULL, timestamp {real} NOT NULL, PRIMARY KEY (trial_id, epoch))""",
]

# STEPS[n]: the statements that take a version n-1 database to version n.
STEPS: dict[int, tuple[str, list[str]]] = {
    2: ("a schema version record and run heartbeats", [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "ALTER TABLE runs ADD COLUMN hb_pid {bigint}",
        "ALTER TABLE runs ADD COLUMN hb_host TEXT",
        "ALTER TABLE runs ADD COLUMN hb_at {real}",
        "CREATE INDEX runs_by_status ON runs(status)",
    ]),
    3: ("run names, notes and tags", [
        "ALTER TABLE runs ADD COLUMN name TEXT",
        "ALTER TABLE runs ADD COLUMN note TEXT",
        "ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '{{}}'",
    ]),
}


class Tx(Protocol):
    """What the migrations use of a transaction (``sqlrows.Tx``); a protocol, so this module imports no tracker."""

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any: ...

    def run(self, sql: str, args: Sequence[Any] = ()) -> int: ...


class Database(Protocol):
    """What ``ensure`` uses of a tracker (``sql.SQLTracker``)."""

    uri: str
    dialect: Dialect

    def _read(self, fn: Callable[[Tx], Any]) -> Any: ...

    def _write(self, fn: Callable[[Tx], Any]) -> Any: ...


def _exists(tx: Tx, dialect: Dialect, table: str) -> bool:
    return tx.one(dialect.table_exists, (table,)) is not None


def found_version(tx: Tx, dialect: Dialect) -> int:
    """The schema version of the database behind ``tx``: 0 when it holds no tracker tables yet."""
    version = 0
    if _exists(tx, dialect, "meta"):
        row = tx.one("SELECT value FROM meta WHERE key='schema_version'")
        version = int(row["value"]) if row else 0
    elif _exists(tx, dialect, "runs"):
        version = 1
    if dialect.name == "sqlite":  # a newer autosearch may only have bumped the header
        user_version = tx.one("PRAGMA user_version")[0]
        version = max(version, user_version if version else 0)
    return version


def _newer(uri: str, found: int) -> TrackerError:
    return TrackerError(f"{uri} was written by a newer autosearch (schema {found} > {SCHEMA_VERSION}); "
                        "upgrade autosearch, or point --tracker at another database.")


def _ddl(dialect: Dialect, statement: str) -> str:
    return statement.format(real=dialect.real, bigint=dialect.bigint)


def _migrate(tx: Tx, dialect: Dialect, uri: str) -> int:
    if dialect.schema_lock:
        tx.one(dialect.schema_lock)
    found = found_version(tx, dialect)  # again, now that we hold the lock
    if found > SCHEMA_VERSION:
        raise _newer(uri, found)
    if found == 0:
        for statement in _V1:
            tx.run(_ddl(dialect, statement))
    for step in range(max(found, 1) + 1, SCHEMA_VERSION + 1):
        for statement in STEPS[step][1]:
            tx.run(_ddl(dialect, statement))
    tx.run("INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
           " ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(SCHEMA_VERSION),))
    if dialect.name == "sqlite":
        tx.run(f"PRAGMA user_version={SCHEMA_VERSION}")
    return found


def ensure(db: Database) -> None:
    """Create, migrate or refuse the schema of ``db``'s database (see the module docstring)."""
    found: Any = db._read(lambda tx: found_version(tx, db.dialect))
    if found == SCHEMA_VERSION:
        return
    if found > SCHEMA_VERSION:
        raise _newer(db.uri, found)
    found = db._write(lambda tx: _migrate(tx, db.dialect, db.uri))
    if 0 < found < SCHEMA_VERSION:
        what = "; ".join(STEPS[s][0] for s in range(found + 1, SCHEMA_VERSION + 1))
        print(f"note: migrated tracker {db.uri} from schema {found} to {SCHEMA_VERSION} ({what}).", file=sys.stderr)
