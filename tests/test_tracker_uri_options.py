"""Tracker URI options: the known ones parse, anything else is refused before a file or a connection exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from autosearch.errors import TrackerError
from autosearch.tracking.registry import check_uri, clearml_options, get_tracker


@pytest.mark.parametrize("rest, expected", [
    ("p", {"project": "p", "offline": False, "timeout": 3.0, "trial_tasks": False}),
    ("p?timeout=0.5&offline=yes", {"project": "p", "offline": True, "timeout": 0.5, "trial_tasks": False}),
    ("?trial_tasks=1&offline=0&timeout=10", {"project": None, "offline": False, "timeout": 10.0, "trial_tasks": True}),
])
def test_the_known_clearml_options_parse(rest: str, expected: dict) -> None:
    assert clearml_options(rest) == expected


@pytest.mark.parametrize("query, words", [
    ("timeout=0", "timeout=0 is not a positive number"), ("timeout=-1", "timeout=-1 is not a positive number"),
    ("timeout=nan", "timeout=nan is not a positive number"), ("timeout=inf", "timeout=inf is not a positive number"),
    ("timeout=", "timeout= is not a positive number"), ("offline", "offline= must be 1 or 0"),
    ("Timeout=5", "unknown option 'Timeout'; the options are offline (1 or 0), timeout"),
])
def test_a_bad_clearml_option_is_refused_naming_it(query: str, words: str) -> None:
    with pytest.raises(TrackerError, match=words.replace("(", r"\(").replace(")", r"\)")):
        clearml_options(f"p?{query}")


def test_a_refused_sqlite_uri_creates_no_file(tmp_path: Path) -> None:
    with pytest.raises(TrackerError, match="has options"):
        get_tracker(f"sqlite:///{tmp_path}/t.db?mode=ro")
    assert list(tmp_path.iterdir()) == []


def test_the_environment_s_uri_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_TRACKING_URI", "clearml://p?bogus=1")
    with pytest.raises(TrackerError, match="unknown option 'bogus'"):
        check_uri(None)


def test_a_postgresql_password_never_shows_in_the_refusal() -> None:
    with pytest.raises(TrackerError) as info:
        check_uri("postgresql://me:s3cret@127.0.0.1:1/db?password=s3cret&bogus=1")
    assert "s3cret" not in str(info.value) and "unknown option 'bogus'" in str(info.value)


# ------------------------------------------------------------------ encrypted links to a real PostgreSQL server

@pytest.fixture(scope="module")
def postgres():
    """A real, throwaway PostgreSQL server with SSL on and a self-signed certificate (tests/pgserver.py)."""
    from pgserver import PostgresServer, require_postgres

    with PostgresServer(require_postgres()) as server:
        server.create_database("ssl")
        yield server


def _encrypted(tracker) -> bool:
    return tracker._conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()["ssl"]


@pytest.mark.parametrize("sslmode, encrypted", [("disable", False), ("require", True), ("verify-full", True)])
def test_the_uri_s_sslmode_and_root_certificate_reach_the_driver(postgres, sslmode: str, encrypted: bool) -> None:
    from autosearch.tracking.sqlpostgres import PostgreSQLTracker

    tracker = PostgreSQLTracker(postgres.uri("ssl", sslmode=sslmode))
    try:
        assert _encrypted(tracker) is encrypted
        assert tracker.list_runs() == []
    finally:
        tracker.close()


def test_verify_full_with_the_wrong_root_certificate_is_refused_in_one_line(postgres, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tlscerts import self_signed

    root = Path(__file__).resolve().parent.parent  # tests/conftest.py's ROOT ('conftest' may be tests/tracking's)

    wrong, _ = self_signed(tmp_path, "other-ca")
    uri = postgres.uri("ssl", sslmode="verify-full", sslrootcert=wrong)
    res = subprocess.run([sys.executable, "-m", "autosearch", "runs", "--tracker", uri], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("TrackerError: cannot connect to tracker ") and "certificate verify failed" in line
    assert "check the URI's sslmode and sslrootcert" in line and "autosearch-test" not in line  # password masked


def test_an_ssl_link_opened_after_tensorflow_loaded_does_not_abort_the_process(postgres) -> None:
    """TensorFlow exports its BoringSSL symbols process-wide; a libpq loaded after it used to bind to them and
    abort at its first SSL connection (a search whose space module imports Keras opens its tracker after)."""
    import subprocess
    import sys

    code = ("import tensorflow\nfrom autosearch.tracking.sqlpostgres import PostgreSQLTracker\n"
            f"t = PostgreSQLTracker({postgres.uri('ssl', sslmode='require')!r})\n"
            "print(t._conn.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()').fetchone()['ssl'])\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "True", (res.returncode, res.stderr[-1500:])
