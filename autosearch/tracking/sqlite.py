"""The embedded default tracker: one SQLite file in WAL mode (the SQL lives in ``sql.py``).

WAL lets a leaderboard read while a search writes. A write that finds another
process holding the write lock waits and retries up to ``lock_timeout``
seconds (``AUTOSEARCH_LOCK_TIMEOUT``, default 60), then fails with one line
naming the holder: the process whose POSIX lock sits on the WAL write-lock
byte of ``<db>-shm`` (read from ``/proc/locks``), and its run if it beats.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from autosearch.errors import TrackerError, TrackerLockedError
from autosearch.tracking import liveness
from autosearch.tracking.sql import SQLTracker, lock_timeout
from autosearch.tracking.sqlschema import SCHEMA_VERSION, SQLITE

__all__ = ["SCHEMA_VERSION", "SQLiteTracker", "write_lock_holder"]

_WAL_WRITE_LOCK = 120  # byte offset of the WAL write lock in the -shm file (SQLite's WALINDEX_LOCK_OFFSET)


def write_lock_holder(db: Path) -> int | None:
    """The pid holding ``db``'s WAL write lock, from ``/proc/locks`` (Linux; None when unknown)."""
    try:
        inode = os.stat(f"{db}-shm").st_ino
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if "->" in parts or len(parts) < 8 or parts[1] != "POSIX" or parts[3] != "WRITE":
            continue  # "->" marks a process waiting for the lock, not holding it
        start, end = parts[6], parts[7]
        if parts[5].rsplit(":", 1)[-1] == str(inode) and int(start) <= _WAL_WRITE_LOCK and (
                end == "EOF" or _WAL_WRITE_LOCK <= int(end)):
            return int(parts[4])
    return None


def _command(pid: int) -> str:
    """The process's command line, its program by name only (``python -m autosearch search ...``), cut at 60."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return ""
    cmd = " ".join([Path(words[0]).name, *words[1:]]) if words else ""
    return cmd if len(cmd) <= 60 else cmd[:57] + "..."


class SQLiteTracker(SQLTracker):
    """Tracker backed by a local SQLite database file."""

    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path, *, lock_timeout_s: float | None = None):
        self.path = Path(path)
        self.uri = f"sqlite:///{self.path}"
        self.read_only = False
        seconds = lock_timeout(lock_timeout_s)
        conn = self._connect(seconds)
        try:
            super().__init__(conn, SQLITE, self.uri, seconds)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if self._is_busy(exc):
                raise self._lock_error() from None
            raise TrackerError(f"{self.path} is not an autosearch tracker database ({exc}); "
                               "point --tracker at another file.") from None
        except BaseException:
            conn.close()
            raise

    def _connect(self, seconds: float) -> sqlite3.Connection:
        """A read-write connection in WAL mode, or a read-only one when the file or its folder cannot be
        written (a read-only home): then reads work and writes fail with one line."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=seconds, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise TrackerError(f"cannot open tracker {self.uri} ({exc}); give a path to a database file.") from None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            conn.close()
            if not (self._read_only_error(exc) and self.path.is_file()):
                raise TrackerError(f"cannot open tracker {self.uri} ({exc}); give a path to a database file.") from None
            # WAL needs a writable folder for its -shm file; nobody can write here, so read it as it is.
            conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?immutable=1", uri=True,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self.read_only = True
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise TrackerError(f"{self.path} is not an autosearch tracker database ({exc}); "
                               "point --tracker at another file.") from None
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @staticmethod
    def _read_only_error(exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
            sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)

    def _translate(self, exc: BaseException) -> BaseException | None:
        if self._read_only_error(exc):
            return TrackerError(f"tracker {self.uri} is read-only ({exc}); make {self.path.parent} writable, "
                                "or point AUTOSEARCH_HOME or --tracker at a writable place.")
        return None

    def _is_busy(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
            sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

    def _lock_error(self) -> TrackerLockedError:
        where = f"the write lock on {self.path} is held for over {self.lock_timeout:g} s"
        fix = "wait for it to finish or stop it, or raise AUTOSEARCH_LOCK_TIMEOUT (seconds)."
        pid = write_lock_holder(self.path)
        if pid is None:
            return TrackerLockedError(f"{where} by another process; {fix}")
        holder = f"process {pid}" + (f" ({cmd})" if (cmd := _command(pid)) else "")
        try:
            row = self._conn.execute("SELECT run_id FROM runs WHERE hb_pid=? AND hb_host=? AND status='RUNNING'",
                                     (pid, liveness.this_host())).fetchone()
        except sqlite3.Error:
            row = None
        if row is not None:
            holder += f", run {row['run_id']}"
        if pid == os.getpid():
            holder += ", this process"
        return TrackerLockedError(f"{where} by {holder}; {fix}")
