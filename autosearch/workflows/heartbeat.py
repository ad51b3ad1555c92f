"""A running search's heartbeat: a daemon thread that tells the tracker, every few seconds, that this
process on this host still works on the run. Views read a RUNNING run whose beats stopped as
INTERRUPTED (``autosearch.tracking.liveness``), so a killed search never looks alive."""

from __future__ import annotations

import os
import sys
import threading
import time

from autosearch.tracking import TrackerWriter
from autosearch.tracking.liveness import this_host

INTERVAL = 10.0  # seconds; well under liveness.STALE_AFTER


class Heartbeat:
    def __init__(self, tracker: TrackerWriter, run_id: str, interval: float = INTERVAL):
        self.tracker, self.run_id, self.interval = tracker, run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autosearch-heartbeat", daemon=True)
        self._warned = False

    def beat(self) -> None:
        try:
            self.tracker.heartbeat(self.run_id, pid=os.getpid(), host=this_host(), at=time.time())
        except Exception as exc:  # noqa: BLE001 - a missed beat must not stop the search; the next one retries
            if not self._warned:
                print(f"warning: heartbeat of run {self.run_id} failed ({type(exc).__name__}: {exc}); "
                      "retrying every beat.", file=sys.stderr)
                self._warned = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> "Heartbeat":
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
