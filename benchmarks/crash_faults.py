"""The crash matrix's second fault: another process holds the tracker's write lock past AUTOSEARCH_LOCK_TIMEOUT.

Some of the matrix's searches and resumes (``LOCK_SHARE``, drawn from a generator of their own so the kill
moments stay those of the seed) have, besides their SIGKILL moment, a moment at which a second process takes
``BEGIN IMMEDIATE`` on ``tracker.db`` and holds it for 2-4 times the children's ``AUTOSEARCH_LOCK_TIMEOUT``
(or until the child ends). A trial that trains meanwhile journals its records beside the run; a write
the run itself makes meanwhile (its start, its end, a resume's restart) fails with one line, and the child
exits 2: that counts as a stop, like a kill, and the run is resumed. Either way no trial may be lost and
every run must resume to its budget (``crash_rows.finished_trainings_lost``, ``attempt_rows_ok``).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import PYTHON

LOCK_TIMEOUT = 2.0  # the children's AUTOSEARCH_LOCK_TIMEOUT, seconds
LOCK_SHARE = 0.5  # of the searches and resumes that get a held lock
HOLD = (2.0, 4.0)  # the lock is held this many times LOCK_TIMEOUT
LOCK_STOP = "write lock"  # in the one line of a child that stopped because a write outlasted the lock wait

# Waits (up to 60 s) for a write under way to end, takes the write lock, says so, and holds it until a line
# arrives on stdin, stdin closes, or the time given is up; opening the file read-write, never creating it.
HOLD_LOCK = """
import select, sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=rw", uri=True, isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@dataclass
class LockFault:
    """One held lock on ``db``: taken ``at`` seconds after the child's spawn, held ``hold`` seconds at most."""

    db: Path
    at: float
    hold: float
    taken: float | None = None  # seconds held, once released; None when it never was taken
    locked: threading.Event = field(default_factory=threading.Event)  # set while it is held
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> "LockFault":
        self._thread = threading.Thread(target=self._run, name="crash-lock", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._done.wait(self.at) or not self.db.exists():
            return  # the child ended first, or has no tracker yet (the lock would create an empty file)
        proc = subprocess.Popen([PYTHON, "-c", HOLD_LOCK, str(self.db), str(self.hold)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._proc = proc
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "locked":
            proc.wait(timeout=60)
            return
        t0 = time.monotonic()
        self.locked.set()
        proc.wait()  # the hold's end or release()
        self.taken = time.monotonic() - t0
        self.locked.clear()
        proc.stdout.close()

    def release(self) -> None:
        """The child has ended: let go of the lock (if it was taken) and wait for the holder to exit."""
        self._done.set()
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write("go\n")
                proc.stdin.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=120)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)

    def held_past_timeout(self) -> bool:
        return self.taken is not None and self.taken > LOCK_TIMEOUT


def draw_fault(rng: random.Random, db: Path, until: float, share: float = LOCK_SHARE) -> LockFault | None:
    """A held lock for one child (``share`` of them), taken uniformly over ``[0, until]`` s after spawn."""
    if rng.random() >= share:
        return None
    return LockFault(db, rng.uniform(0.0, until), LOCK_TIMEOUT * rng.uniform(*HOLD))


def stopped_by_the_lock(fault: LockFault | None, code: int, tail: str) -> bool:
    """A child that exited ``code`` unkilled, its last line ``tail``, stopped because of the held lock."""
    return fault is not None and fault.taken is not None and code == 2 and LOCK_STOP in tail
