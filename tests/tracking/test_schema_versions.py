"""Schema versions: an older tracker database is migrated on open, a newer one is refused, one line each."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from trackerkit import RUN_ID, beat, make_run

from autosearch.errors import TrackerError
from autosearch.tracking import RunStatus, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tracking.sqlschema import SCHEMA_VERSION

# The schema autosearch wrote before schema versions were recorded (version 1), copied from that code.
V1_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, task TEXT NOT NULL, dataset TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    best_trial_id TEXT, config TEXT NOT NULL, data TEXT NOT NULL, environment TEXT NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    kind TEXT NOT NULL, state TEXT NOT NULL, hyperparameters TEXT NOT NULL, seed INTEGER,
    started_at REAL NOT NULL, ended_at REAL, objective REAL, best_epoch INTEGER, trainable_params INTEGER,
    error TEXT, reproduces TEXT, extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trials_by_run ON trials(run_id, started_at);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials(run_id, state);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id TEXT NOT NULL REFERENCES trials(trial_id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL, timestamp REAL NOT NULL, PRIMARY KEY (trial_id, epoch)
);
"""
V1_ROWS = [
    ("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
     (RUN_ID, "text", "text_classification", "rotten_tomatoes", 0, "COMPLETED", 1000.0, 2000.0, f"{RUN_ID}/0",
      json.dumps({"search": {"objective": "val_accuracy"}}), json.dumps({"fingerprint": "abc"}), "{}",
      json.dumps({"run_dir": "/old/home/runs/" + RUN_ID}))),
    ("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
     (f"{RUN_ID}/0", RUN_ID, "search", "COMPLETED", json.dumps({"dropout": 0.3}), 1, 1001.0, 1010.0, 0.8, 1, 1234,
      None, None, "{}")),
    ("INSERT INTO epochs VALUES (?,?,?,?)", (f"{RUN_ID}/0", 0, json.dumps({"val_accuracy": 0.7}), 1005.0)),
    ("INSERT INTO epochs VALUES (?,?,?,?)", (f"{RUN_ID}/0", 1, json.dumps({"val_accuracy": 0.8}), 1010.0)),
]


def write_v1_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V1_DDL)
    conn.execute("PRAGMA user_version=1")
    for sql, args in V1_ROWS:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


def assert_v1_data_reads_back(tracker) -> None:
    run = tracker.get_run(RUN_ID)
    assert (run.status, run.best_trial_id, run.heartbeat) == (RunStatus.COMPLETED, f"{RUN_ID}/0", {})
    trial = tracker.get_trial(f"{RUN_ID}/0")
    assert (trial.state, trial.objective, [e.metrics["val_accuracy"] for e in trial.epochs]) == (
        TrialState.COMPLETED, 0.8, [0.7, 0.8])


def test_a_version_1_sqlite_tracker_is_migrated_on_open_with_one_line(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "tracker.db"
    write_v1_sqlite(db)
    tracker = SQLiteTracker(db)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"migrated tracker sqlite:///{db} from schema 1 to {SCHEMA_VERSION}" in err
    assert_v1_data_reads_back(tracker)
    tracker.start_run(make_run("20261125-090000-beef"))  # and it takes new writes
    tracker.heartbeat("20261125-090000-beef", **beat())
    tracker.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    SQLiteTracker(db).close()
    assert capsys.readouterr().err == ""  # migrated once


def test_a_new_sqlite_tracker_gets_the_current_schema_silently(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    SQLiteTracker(tmp_path / "t.db").close()
    assert capsys.readouterr().err == ""
    assert sqlite3.connect(tmp_path / "t.db").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("how", ["meta", "user_version"])
def test_a_sqlite_tracker_from_a_newer_autosearch_is_refused(tmp_path: Path, how: str) -> None:
    db = tmp_path / "tracker.db"
    SQLiteTracker(db).close()
    conn = sqlite3.connect(db)
    if how == "meta":
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.execute(f"PRAGMA user_version={99 if how == 'user_version' else SCHEMA_VERSION}")
    conn.commit()
    conn.close()
    with pytest.raises(TrackerError) as info:
        SQLiteTracker(db)
    message = str(info.value)
    assert f"sqlite:///{db} was written by a newer autosearch (schema 99 > {SCHEMA_VERSION}); upgrade autosearch" \
        in message and "\n" not in message


# -- PostgreSQL -------------------------------------------------------------------

def _pg_execute(uri: str, *statements: str, args: tuple = ()) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql, args if "%s" in sql else None)


def test_a_version_1_postgresql_tracker_is_migrated_on_open(pg_uri: str, capsys: pytest.CaptureFixture) -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker, redact

    ddl = V1_DDL.replace(" REAL", " DOUBLE PRECISION").replace(" INTEGER", " BIGINT")
    _pg_execute(pg_uri, *[s for s in ddl.split(";") if s.strip()])
    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for sql, args in V1_ROWS:
            conn.execute(sql.replace("?", "%s"), args)
    tracker = PostgreSQLTracker(pg_uri)
    err = capsys.readouterr().err
    assert f"migrated tracker {redact(pg_uri)} from schema 1 to {SCHEMA_VERSION}" in err and err.count("\n") == 1
    assert_v1_data_reads_back(tracker)
    tracker.close()
    PostgreSQLTracker(pg_uri).close()
    assert capsys.readouterr().err == ""


def test_a_postgresql_tracker_from_a_newer_autosearch_is_refused(pg_uri: str) -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    PostgreSQLTracker(pg_uri).close()
    _pg_execute(pg_uri, "UPDATE meta SET value='7' WHERE key='schema_version'")
    with pytest.raises(TrackerError, match=rf"written by a newer autosearch \(schema 7 > {SCHEMA_VERSION}\)"):
        PostgreSQLTracker(pg_uri)
    with pytest.raises(TrackerError) as info:
        PostgreSQLTracker(pg_uri)
    assert "autosearch-test" not in str(info.value)  # the password stays out of messages
