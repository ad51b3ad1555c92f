"""The tracker contract for a run's tags, name and note (``set_tags``, ``describe_run``), on every readable
backend, and the schema step that adds them to an existing SQLite or PostgreSQL tracker."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from test_schema_versions import V1_DDL, V1_ROWS, _pg_execute, write_v1_sqlite
from trackerkit import RUN_ID, make_run

from autosearch.errors import TrackerError, UnknownRunError
from autosearch.tracking import RunStatus, Tracker
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tracking.sqlschema import POSTGRESQL, SCHEMA_VERSION, SQLITE, STEPS


def test_a_run_started_with_a_name_a_note_and_tags_reads_them_back(tracker: Tracker) -> None:
    run = dataclasses.replace(make_run(), name="lr sweep", note="first try\nwith\ttabs", tags={"team": "nlp", "x": ""})
    tracker.start_run(run)
    got = tracker.get_run(RUN_ID)
    assert (got.name, got.note, got.tags) == ("lr sweep", "first try\nwith\ttabs", {"team": "nlp", "x": ""})
    assert tracker.list_runs()[0].tags == {"team": "nlp", "x": ""}


def test_a_run_without_labels_has_no_name_no_note_and_no_tags(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    got = tracker.get_run(RUN_ID)
    assert (got.name, got.note, got.tags) == (None, None, {})


def test_set_tags_adds_replaces_and_removes_keys_and_keeps_the_others(tracker: Tracker) -> None:
    tracker.start_run(dataclasses.replace(make_run(), tags={"team": "nlp", "stage": "draft", "old": "1"}))
    tracker.set_tags(RUN_ID, {"stage": "final", "data/version": "v2=b"}, remove=["old", "never-set"])
    assert tracker.get_run(RUN_ID).tags == {"team": "nlp", "stage": "final", "data/version": "v2=b"}
    tracker.set_tags(RUN_ID, {}, remove=["team"])
    assert tracker.get_run(RUN_ID).tags == {"stage": "final", "data/version": "v2=b"}


def test_describe_run_sets_and_clears_the_name_and_note_and_none_leaves_them(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.describe_run(RUN_ID, name="baseline rerun", note="kept for the paper")
    tracker.describe_run(RUN_ID, note="changed")  # the name stays
    got = tracker.get_run(RUN_ID)
    assert (got.name, got.note) == ("baseline rerun", "changed")
    tracker.describe_run(RUN_ID, name="")
    got = tracker.get_run(RUN_ID)
    assert (got.name, got.note) == (None, "changed")


def test_a_finished_run_can_still_be_labelled_and_keeps_its_result(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=2000.0, summary={"duration": 3.0})
    tracker.set_tags(RUN_ID, {"keep": "yes"})
    tracker.describe_run(RUN_ID, name="winner")
    got = tracker.get_run(RUN_ID)
    assert (got.status, got.summary, got.tags, got.name) == (RunStatus.COMPLETED, {"duration": 3.0}, {"keep": "yes"},
                                                             "winner")


@pytest.mark.parametrize("tags, remove, words", [
    ({"has space": "v"}, (), "tag key 'has space' is not allowed"),
    ({"-dash": "v"}, (), "starting with a letter"),
    ({"k" * 65: "v"}, (), "1-64 letters"),
    ({"mlflow.note": "v"}, (), "autosearch. and mlflow. are reserved"),
    ({"k": "two\nlines"}, (), "on one line"),
    ({"k": "v" * 251}, (), "at most 250 characters"),
    ({"k": 3}, (), "a value is a string"),
    ({}, ["bad key"], "tag key 'bad key'"),
])
def test_bad_tags_are_refused_naming_the_rule_and_nothing_is_written(tracker: Tracker, tags, remove,
                                                                     words: str) -> None:
    tracker.start_run(dataclasses.replace(make_run(), tags={"k": "kept"}))
    with pytest.raises(TrackerError, match=words.replace(".", r"\.").replace("(", r"\(")):
        tracker.set_tags(RUN_ID, {"ok": "1", **tags}, remove=remove)
    assert tracker.get_run(RUN_ID).tags == {"k": "kept"}


def test_bad_names_and_notes_are_refused_and_a_bad_run_is_not_started(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    with pytest.raises(TrackerError, match="one line of at most 100 characters"):
        tracker.describe_run(RUN_ID, name="two\nlines", note="fine")
    with pytest.raises(TrackerError, match="at most 5000 characters"):
        tracker.describe_run(RUN_ID, note="n" * 5001)
    assert (tracker.get_run(RUN_ID).name, tracker.get_run(RUN_ID).note) == (None, None)
    with pytest.raises(TrackerError, match="tag key"):
        tracker.start_run(dataclasses.replace(make_run("other"), tags={"bad key": ""}))
    assert [r.run_id for r in tracker.list_runs()] == [RUN_ID]


def test_labelling_an_unknown_run_raises_unknown_run_error(tracker: Tracker) -> None:
    with pytest.raises(UnknownRunError, match="nope"):
        tracker.set_tags("nope", {"k": "v"})
    with pytest.raises(UnknownRunError, match="nope"):
        tracker.describe_run("nope", name="x")


# -- an existing tracker gains the columns (schema 2 -> 3) ------------------------------------------

def _v2_statements(dialect) -> list[str]:
    return [s.format(real=dialect.real, bigint=dialect.bigint) for s in STEPS[2][1]] + [
        "INSERT INTO meta(key, value) VALUES ('schema_version', '2')"]


def test_a_version_2_sqlite_tracker_gains_labels_on_open_and_keeps_its_runs(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "t.db"
    write_v1_sqlite(db)
    conn = sqlite3.connect(db)
    for statement in _v2_statements(SQLITE):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    tracker = SQLiteTracker(db)
    assert f"from schema 2 to {SCHEMA_VERSION} (run names, notes and tags)" in capsys.readouterr().err
    run = tracker.get_run(RUN_ID)
    assert (run.status, run.name, run.note, run.tags) == (RunStatus.COMPLETED, None, None, {})
    tracker.set_tags(RUN_ID, {"old": "run"})
    tracker.describe_run(RUN_ID, name="from before")
    assert (tracker.get_run(RUN_ID).tags, tracker.get_run(RUN_ID).name) == ({"old": "run"}, "from before")
    tracker.close()


def test_a_version_2_postgresql_tracker_gains_labels_on_open_and_keeps_its_runs(pg_uri: str,
                                                                                capsys: pytest.CaptureFixture) -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    ddl = V1_DDL.replace(" REAL", " DOUBLE PRECISION").replace(" INTEGER", " BIGINT")
    _pg_execute(pg_uri, *[s for s in ddl.split(";") if s.strip()], *_v2_statements(POSTGRESQL))
    import psycopg

    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for sql, args in V1_ROWS:
            conn.execute(sql.replace("?", "%s"), args)
    tracker = PostgreSQLTracker(pg_uri)
    assert f"from schema 2 to {SCHEMA_VERSION} (run names, notes and tags)" in capsys.readouterr().err
    assert tracker.get_run(RUN_ID).tags == {}
    tracker.set_tags(RUN_ID, {"old": "run"})
    tracker.describe_run(RUN_ID, note="migrated")
    assert (tracker.get_run(RUN_ID).tags, tracker.get_run(RUN_ID).note) == ({"old": "run"}, "migrated")
    tracker.close()
