"""Choosing and opening a backend: URIs, the environment, and the one-line errors of a bad one."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pgserver import PostgresServer
from required_services import unavailable
from trackerkit import RUN_ID, make_run

from autosearch.errors import TrackerError
from autosearch.tracking import get_tracker
from autosearch.tracking.sqlite import SQLiteTracker

ROOT = Path(__file__).resolve().parents[2]


def test_a_path_that_is_not_a_database_is_a_tracker_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database " * 100)
    with pytest.raises(TrackerError, match="not an autosearch tracker database"):
        SQLiteTracker(tmp_path / "notes.db")
    with pytest.raises(TrackerError, match="cannot open tracker"):
        SQLiteTracker(tmp_path)


def test_sqlite_uses_wal_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = SQLiteTracker(db)
    first.start_run(make_run())
    first.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert SQLiteTracker(db).get_run(RUN_ID).dataset == "rotten_tomatoes"


@pytest.mark.parametrize("uri, expected", [
    ("clearml", "clearml://?offline=1"), ("clearml://", "clearml://?offline=1"),
    ("clearml://p", "clearml://p?offline=1"), ("clearml://p?timeout=5", "clearml://p?timeout=5&offline=1")])
def test_offline_is_added_to_any_clearml_uri(uri: str, expected: str) -> None:
    from autosearch.tracking.registry import offline_uri

    assert offline_uri(uri) == expected
    with pytest.raises(TrackerError, match="--offline is for the ClearML tracker"):
        offline_uri("sqlite:///x.db")


def test_unknown_scheme_error_lists_valid_schemes() -> None:
    with pytest.raises(TrackerError, match=r"valid schemes: .*postgresql://.*sqlite://"):
        get_tracker("mongodb://localhost/x")
    with pytest.raises(TrackerError, match="names no server"):
        get_tracker("postgresql://")


def test_uri_comes_from_argument_then_env_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AUTOSEARCH_TRACKING_URI", raising=False)
    assert get_tracker().path == tmp_path / "home" / "tracker.db"
    monkeypatch.setenv("AUTOSEARCH_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    assert get_tracker().path == tmp_path / "env.db"
    assert get_tracker(f"sqlite:///{tmp_path / 'arg.db'}").path == tmp_path / "arg.db"
    existing = SQLiteTracker(tmp_path / "x.db")
    assert get_tracker(existing) is existing


def test_relative_sqlite_uri_is_relative_to_the_working_directory(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert get_tracker("sqlite:///sub/t.db").path == Path("sub/t.db")
    assert (tmp_path / "sub" / "t.db").exists()


def test_sqlite_commands_never_import_psycopg(tmp_path: Path) -> None:
    code = ("import runpy, sys\nsys.argv = ['autosearch'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('autosearch', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('psycopg' in sys.modules, file=sys.stderr)")
    env = {**os.environ, "AUTOSEARCH_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("AUTOSEARCH_TRACKING_URI", None)
    for args in (["--help"], ["leaderboard"], ["runs"]):
        res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
        assert res.stderr.strip().splitlines()[-1] == "False", (args, res.stderr)


# -- PostgreSQL URIs ------------------------------------------------------------------

def test_postgresql_and_postgres_uris_and_the_environment_reach_the_same_database(
        postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = postgres.create_schema()
    with get_tracker(uri) as tracker:
        tracker.start_run(make_run())
        assert tracker.uri.startswith(f"postgresql://autosearch:***@127.0.0.1:{postgres.port}/")  # password masked
        assert "autosearch-test" not in tracker.uri
    with get_tracker("postgres://" + uri.split("://", 1)[1]) as tracker:
        assert tracker.get_run(RUN_ID).dataset == "rotten_tomatoes"
    monkeypatch.setenv("AUTOSEARCH_TRACKING_URI", uri)
    with get_tracker() as tracker:
        assert [r.run_id for r in tracker.list_runs()] == [RUN_ID]


def _one_line_error(uri: str) -> str:
    with pytest.raises(TrackerError) as info:
        get_tracker(uri)
    message = str(info.value)
    assert "\n" not in message and "autosearch-test" not in message, message
    return message


def test_bad_credentials_fail_with_one_line_naming_the_uri(postgres: PostgresServer) -> None:
    message = _one_line_error(postgres.uri("postgres", password="wrong"))
    shown = f"postgresql://autosearch:***@127.0.0.1:{postgres.port}/postgres"
    assert message.startswith(f"cannot connect to tracker {shown}"), message
    assert "password authentication failed" in message and "PGPASSWORD" in message, message


def test_a_missing_database_says_to_create_it(postgres: PostgresServer) -> None:
    message = _one_line_error(postgres.uri("no_such_db"))
    assert 'database "no_such_db" does not exist' in message and "create the database" in message, message


def test_an_unreachable_server_fails_with_one_line_saying_how_to_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    message = _one_line_error(f"postgresql://autosearch:x@127.0.0.1:{port}/db")
    assert f"cannot connect to tracker postgresql://autosearch:***@127.0.0.1:{port}/db" in message
    assert "Connection refused" in message and "check that the server is running" in message, message


def test_a_server_that_never_answers_fails_within_the_connect_timeout() -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    with socket.socket() as silent:  # accepts TCP connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(TrackerError, match=f"cannot connect to tracker postgresql://a@127.0.0.1:{port}/db"):
            PostgreSQLTracker(f"postgresql://a@127.0.0.1:{port}/db", connect_timeout=2)
        assert time.monotonic() - t0 < 8
        t0 = time.monotonic()
        with pytest.raises(TrackerError, match="timeout"):
            get_tracker(f"postgresql://a@127.0.0.1:{port}/db?connect_timeout=2")
        assert time.monotonic() - t0 < 8


def test_without_psycopg_the_postgresql_uri_says_what_to_install() -> None:
    code = ("import sys; sys.modules['psycopg'] = None\nfrom autosearch.tracking import get_tracker\n"
            "try:\n    get_tracker('postgresql://u@localhost/db')\nexcept Exception as exc:\n    print(exc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "needs psycopg" in res.stdout and "pip install 'psycopg[binary]'" in res.stdout, res


READ_ONLY_HOME = """
import sys
sys.path.insert(0, sys.argv[1])
from trackerkit import make_run
from autosearch.tracking import get_tracker
tracker = get_tracker()
print([r.run_id for r in tracker.list_runs()], tracker.read_only)
try:
    tracker.start_run(make_run("20261125-000000-new0"))
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


# Root ignores file modes through CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH, CAP_FOWNER). Without them the
# child stays root, the owner of everything the test made, so it still reads the checkout and the venv wherever
# they are (a 0700 home included), while the 0444 database and the 0555 home refuse its writes.
DROP_DAC = "-dac_override,-dac_read_search,-fowner"


def without_file_override() -> list[str]:
    """The command prefix that makes a root child obey file modes (empty when it already does)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        unavailable("running as root without setpriv to drop CAP_DAC_OVERRIDE", "apt-get install util-linux")
    return ["setpriv", f"--inh-caps={DROP_DAC}", f"--bounding-set={DROP_DAC}"]


def test_a_read_only_home_is_read_and_a_write_fails_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        with SQLiteTracker(home / "tracker.db") as tracker:
            tracker.start_run(make_run())
        (home / "tracker.db").chmod(0o444)
        home.chmod(0o555)
        res = subprocess.run([*without_file_override(), sys.executable, "-c", READ_ONLY_HOME,
                              str(Path(__file__).parent)], capture_output=True, text=True, cwd="/",
                             env={**os.environ, "PYTHONPATH": str(ROOT), "AUTOSEARCH_HOME": str(home)})
        lines = res.stdout.splitlines()
        assert lines and lines[0] == f"['{RUN_ID}'] True", res
        assert lines[1].startswith(f"TrackerError: tracker sqlite:///{home / 'tracker.db'} is read-only")
        assert "make" in lines[1] and "writable" in lines[1] and len(lines) == 2, res
    finally:
        home.chmod(0o755)
