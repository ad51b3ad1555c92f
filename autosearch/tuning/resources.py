"""Per-trial resource use: peak resident memory (sampled) and mean CPU use (exact)."""

from __future__ import annotations

import os
import threading
import time

import psutil


class ResourceSampler:
    """Samples this process's RSS in a background thread between ``start`` and ``stop``.

    CPU use comes from the process's CPU-time delta over wall time, so it needs
    no sampling; 100% means one core busy.
    """

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self._proc = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_rss = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def start(self) -> "ResourceSampler":
        self.peak_rss = self._proc.memory_info().rss
        self._cpu0, self._wall0 = self._cpu(), time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="autosearch-resources", daemon=True)
        self._thread.start()
        return self

    def _cpu(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
        wall = max(time.monotonic() - self._wall0, 1e-9)
        return {"peak_rss_bytes": int(self.peak_rss), "cpu_percent_mean": 100.0 * (self._cpu() - self._cpu0) / wall}
