"""The shared tracker: PostgreSQL through psycopg 3 (the SQL lives in ``sql.py``).

``postgresql://user@host:port/db`` (or ``postgres://``); everything libpq
accepts works (``?sslmode=verify-full&sslrootcert=ca.pem``, ``PGPASSWORD``, ``~/.pgpass``): the URI
is handed to libpq whole, so its SSL options reach the driver as written. psycopg is
imported only here, so commands that read a SQLite tracker never load it.
Connecting gives up after ``connect_timeout`` seconds (10 unless the URI says
otherwise); a row lock held longer than the lock deadline fails with one line
naming the sessions that hold locks on the tracker's tables.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from autosearch.errors import TrackerError, TrackerLockedError
from autosearch.redaction import redact
from autosearch.tracking import liveness
from autosearch.tracking.sql import SQLTracker, lock_timeout
from autosearch.tracking.sqlschema import POSTGRESQL

CONNECT_TIMEOUT = 10


def import_psycopg() -> Any:
    """``psycopg``, its C libraries (libpq, OpenSSL) loaded with ``RTLD_DEEPBIND`` so that they bind to each
    other: TensorFlow exports its own BoringSSL symbols process-wide (``RTLD_GLOBAL``), and a libpq loaded
    after it bound to those and aborted the process at its first SSL connection ("free(): invalid pointer")."""
    if "psycopg" not in sys.modules and hasattr(os, "RTLD_DEEPBIND"):
        flags = sys.getdlopenflags()
        sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
        try:
            import psycopg  # noqa: F401 - loads psycopg_binary's libraries, deep-bound
        finally:
            sys.setdlopenflags(flags)
    import psycopg

    return psycopg


def check_options(uri: str) -> None:
    """Refuse, before connecting, a query option libpq does not know (the message lists those it knows), one
    without a value, and a ``connect_timeout`` that is not a whole number of seconds (at least 1)."""
    pq = import_psycopg().pq
    known = sorted(o.keyword.decode() for o in pq.Conninfo.get_defaults())
    for name, value in parse_qsl(urlsplit(uri).query, keep_blank_values=True):
        if name not in known:
            raise TrackerError(f"tracker URI '{redact(uri)}': unknown option '{name}'; the options libpq knows are "
                               f"{', '.join(known)}.")
        if not value:
            raise TrackerError(f"tracker URI '{redact(uri)}': option '{name}' has no value; write {name}=<value>.")
        if name == "connect_timeout" and not (value.isdigit() and int(value) >= 1):
            raise TrackerError(f"tracker URI '{redact(uri)}': connect_timeout={value} is not a whole number of "
                               "seconds of at least 1; e.g. ?connect_timeout=10.")


def _one_line(exc: BaseException) -> str:
    """libpq's message without its prefixes and line breaks."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "", text)
    text = re.sub(r"^(FATAL|ERROR): +", "", text)
    text = text.replace(" Is the server running on that host and accepting TCP/IP connections?", "")
    return text.rstrip(".") or type(exc).__name__


def _advice(message: str) -> str:
    lowered = message.lower()
    if "ssl" in lowered or "certificate" in lowered:
        return ("check the URI's sslmode and sslrootcert (the CA that signed the server's certificate; verify-full "
                "also needs the host name the certificate names)")
    if "password" in message or "authentication" in message or "role" in message:
        return "check the user and password (in the URI, PGPASSWORD or ~/.pgpass)"
    if "database" in message and "does not exist" in message:
        return "create the database first (createdb, or CREATE DATABASE) or fix its name in the URI"
    return "check that the server is running and accepts TCP connections at that host and port"


class PostgreSQLTracker(SQLTracker):
    """Tracker on a PostgreSQL database that several processes and machines share."""

    def __init__(self, uri: str, *, connect_timeout: float | None = None, lock_timeout_s: float | None = None):
        psycopg = import_psycopg()
        from psycopg.rows import dict_row

        self._psycopg = psycopg
        self.uri = redact("postgresql://" + uri.split("://", 1)[1])  # for messages: postgres:// spelled out
        seconds = lock_timeout(lock_timeout_s)
        options: dict[str, Any] = {"application_name": f"autosearch pid {os.getpid()} on {liveness.this_host()}"}
        if "connect_timeout=" not in uri:
            options["connect_timeout"] = max(1, round(connect_timeout or CONNECT_TIMEOUT))
        target = "postgresql://" + uri.split("://", 1)[1]
        try:
            conn = psycopg.connect(target, autocommit=True, row_factory=dict_row, **options)
        except psycopg.Error as exc:
            message = _one_line(exc)
            raise TrackerError(f"cannot connect to tracker {self.uri} ({message}); {_advice(message)}.") from None
        try:
            conn.execute(f"SET lock_timeout = {max(1, int(seconds * 1000))}")
            super().__init__(conn, POSTGRESQL, self.uri, seconds)
        except BaseException:
            conn.close()
            raise
        self.integrity_errors = (psycopg.IntegrityError,)

    def _is_busy(self, exc: BaseException) -> bool:
        errors = self._psycopg.errors
        return isinstance(exc, (errors.LockNotAvailable, errors.DeadlockDetected, errors.SerializationFailure))

    def _lock_error(self) -> TrackerLockedError:
        fix = "wait for it to finish or stop it, or raise AUTOSEARCH_LOCK_TIMEOUT (seconds)."
        try:
            holders = [r["who"] for r in self._conn.execute(
                "SELECT DISTINCT COALESCE(NULLIF(a.application_name, ''), 'server pid ' || a.pid) AS who"
                " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.granted AND l.pid <> pg_backend_pid() AND l.relation IN"
                " (to_regclass('runs'), to_regclass('trials'), to_regclass('epochs'))")]
        except self._psycopg.Error:
            holders = []
        by = f" by {', '.join(sorted(holders))}" if holders else " by another session"
        return TrackerLockedError(f"a lock on {self.uri} is held for over {self.lock_timeout:g} s{by}; {fix}")

    def _translate(self, exc: BaseException) -> BaseException | None:
        psycopg = self._psycopg
        if isinstance(exc, psycopg.OperationalError) and not self._is_busy(exc):
            return TrackerError(f"tracker {self.uri} failed ({_one_line(exc)}); check that the server is running "
                                "and reachable, then run the command again.")
        return None
