"""Is a RUNNING run still alive? Decided on read, from its last heartbeat.

A search beats every 5-10 s (``TrackerWriter.heartbeat``: pid, host, time).
A RUNNING run is dead when

- its last beat came from this host and that process no longer exists (dead at once), or
- its last beat is older than ``STALE_AFTER`` seconds (another host, or a hung process).

A run with no beat at all (written by an older autosearch, or killed before
its first beat) has no known pid or host: it is dead once ``STALE_AFTER``
seconds have passed since it started. Nothing here writes; trackers use the
verdict to show such a run, and its RUNNING trials, as INTERRUPTED.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Mapping

from autosearch.errors import TrackerError

STALE_AFTER = 60.0


def this_host() -> str:
    """The host name recorded in heartbeats and run environments (``platform.node()``)."""
    return platform.node()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie, killed but not yet reaped, does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def clock(at: float, now: float | None = None) -> str:
    """``12:03:04`` for a time today, ``2026-11-24 12:03:04`` otherwise (local time)."""
    now = time.time() if now is None else now
    fmt = "%H:%M:%S" if time.localtime(at)[:3] == time.localtime(now)[:3] else "%Y-%m-%d %H:%M:%S"
    return time.strftime(fmt, time.localtime(at))


def stopped(run_id: str, heartbeat: Mapping[str, Any], started_at: float, now: float | None = None,
            stale_after: float = STALE_AFTER) -> str | None:
    """Why a RUNNING run is dead (one line ending with how to resume it), or None while it is alive."""
    now = time.time() if now is None else now
    resume = f"resume with 'autosearch resume {run_id}'"
    pid, host, at = heartbeat.get("pid"), heartbeat.get("host"), heartbeat.get("at")
    if pid is None or host is None or at is None:
        if now - started_at <= stale_after:
            return None
        return (f"the search stopped without a heartbeat (started {clock(started_at, now)}; an older autosearch, "
                f"or killed before its first beat); {resume}")
    if host == this_host() and not pid_alive(int(pid)):
        return f"process {pid} on host {host} stopped (last heartbeat {clock(at, now)}); {resume}"
    if now - at > stale_after:
        return (f"process {pid} on host {host} stopped (no heartbeat for {now - at:.0f} s, "
                f"last {clock(at, now)}); {resume}")
    return None


def describe(heartbeat: Mapping[str, Any], now: float | None = None) -> str:
    """``process 1234 on host h, last heartbeat 12:03:04`` (or ``no heartbeat yet``)."""
    if not heartbeat.get("at"):
        return "no heartbeat yet"
    return f"process {heartbeat.get('pid')} on host {heartbeat.get('host')}, last heartbeat {clock(heartbeat['at'], now)}"


def restart_reason(run: Any) -> str | None:
    """Why ``run`` (a ``RunInfo``) may be resumed: None when it stopped cleanly (INTERRUPTED, FAILED), the
    reason its process went away when it still reads RUNNING; ``TrackerError`` when it is COMPLETED or its
    process is alive. The one rule of every tracker's ``restart_run``."""
    status = getattr(run.status, "value", run.status)
    if status == "COMPLETED":
        raise TrackerError(f"run '{run.run_id}' is COMPLETED; there is nothing to resume. Start a new search, "
                           "or 'autosearch reproduce' one of its trials.")
    if status != "RUNNING":
        return None
    reason = stopped(run.run_id, run.heartbeat, run.started_at)
    if reason is None:
        raise TrackerError(f"run '{run.run_id}' is still running ({describe(run.heartbeat)}); "
                           "stop that process first, or wait until it has stopped.")
    return reason
