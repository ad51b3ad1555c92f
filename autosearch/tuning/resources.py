"""Per-trial resource use: peak resident memory (sampled) and mean CPU use (exact)."""

from __future__ import annotations

import os
import threading
import time
from typing import ClassVar

import psutil


class ResourceSampler:
    """This process's peak RSS between ``start`` and ``stop``, sampled every ``interval`` seconds.

    One background thread per process samples for every started sampler: it is started once, so that a
    trial's ``start`` and ``stop`` neither start nor join a thread (each waits for the scheduler: ms on a
    loaded machine). CPU use comes from the process's CPU time (all threads) over wall time, so it needs
    no sampling; 100% means one core busy.
    """

    _wake: ClassVar[threading.Condition] = threading.Condition()
    _active: ClassVar[set[ResourceSampler]] = set()
    _thread: ClassVar[threading.Thread | None] = None
    _proc: ClassVar[psutil.Process | None] = None

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.peak_rss = 0

    @classmethod
    def _rss(cls) -> int:
        if cls._proc is None or cls._proc.pid != os.getpid():
            cls._proc = psutil.Process(os.getpid())
        return cls._proc.memory_info().rss

    @classmethod
    def _run(cls) -> None:
        while True:
            with cls._wake:
                while not cls._active:
                    cls._wake.wait()
                active = list(cls._active)
            rss = cls._rss()
            for sampler in active:
                sampler.peak_rss = max(sampler.peak_rss, rss)
            time.sleep(min(s.interval for s in active))

    @classmethod
    def _after_fork(cls) -> None:
        """A forked child has none of its parent's threads (and maybe a lock held by one)."""
        cls._wake, cls._active, cls._thread, cls._proc = threading.Condition(), set(), None, None

    def start(self) -> "ResourceSampler":
        cls = type(self)
        self.peak_rss = self._rss()
        self._cpu0, self._wall0 = time.process_time(), time.monotonic()
        with cls._wake:
            cls._active.add(self)
            cls._wake.notify()
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._run, name="autosearch-resources", daemon=True)
                cls._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        with self._wake:
            self._active.discard(self)
        cpu, wall = time.process_time() - self._cpu0, max(time.monotonic() - self._wall0, 1e-9)
        self.peak_rss = max(self.peak_rss, self._rss())
        return {"peak_rss_bytes": int(self.peak_rss), "cpu_percent_mean": 100.0 * cpu / wall}


os.register_at_fork(after_in_child=ResourceSampler._after_fork)
