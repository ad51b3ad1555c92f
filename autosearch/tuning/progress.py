"""Progress of a long search: one live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Mapping, TextIO

from autosearch.views.formats import duration  # pure Python: the one duration style of tables and reports


def fmt_duration(seconds: float | None) -> str:
    return "?" if seconds is None else duration(seconds)


class Progress:
    """Trial k of N, epoch, best objective so far, elapsed and ETA."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.max_trials = 0
        self.epochs = 0
        self.budget: float | None = None
        self.objective = ""
        self.best: float | None = None
        self.trials_done = 0
        self.trial_no = 0
        self.done_before = 0  # trials a resumed run had finished before this process
        self.trial_started = self.started

    def continue_from(self, done: int) -> None:
        """A resumed run had finished ``done`` trials: the next one is trial ``done + 1`` of the run's budget."""
        self.done_before = self.trial_no = done

    def search_begin(self, max_trials: int, epochs: int, objective: str, budget: float | None) -> None:
        self.started = time.monotonic()
        self.max_trials, self.epochs, self.objective, self.budget = max_trials, epochs, objective, budget

    def _eta(self, epoch_fraction: float) -> float | None:
        elapsed = time.monotonic() - self.started
        done = self.trials_done + epoch_fraction
        if done <= 0:
            return None
        eta = elapsed / done * max(self.max_trials - self.done_before - done, 0)
        if self.budget is not None:
            eta = min(eta, max(self.budget - elapsed, 0.0))
        return eta

    def _line(self, text: str, final: bool = False) -> None:
        if self.live:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _best(self) -> str:
        return "-" if self.best is None else f"{self.best:.4f}"

    def trial_begin(self, trial_id: str) -> None:
        self.trial_no += 1
        self.trial_started = time.monotonic()
        if not self.live:
            self._line(f"trial {self.trial_no}/{self.max_trials} ({trial_id}) started")

    def epoch_end(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        value = metrics.get(self.objective)
        shown = f"{self.objective}={value:.4f}" if value is not None else ""
        elapsed = time.monotonic() - self.started
        text = (
            f"trial {self.trial_no}/{self.max_trials}  epoch {epoch + 1}/{total_epochs}  {shown}  "
            f"best {self._best()}  elapsed {fmt_duration(elapsed)}  "
            f"eta {fmt_duration(self._eta((epoch + 1) / max(total_epochs, 1)))}"
        )
        self._line(text)

    def trial_end(self, trial_id: str, state: str, objective: float | None, best: float | None) -> None:
        self.trials_done += 1
        self.best = best
        took = fmt_duration(time.monotonic() - self.trial_started)
        score = "-" if objective is None else f"{objective:.4f}"
        self._line(f"trial {self.trial_no}/{self.max_trials} {trial_id}: {state} {self.objective}={score} "
                   f"in {took}  (best {self._best()})", final=True)

    def message(self, text: str) -> None:
        self._line(text, final=True)


class SilentProgress(Progress):
    def _line(self, text: str, final: bool = False) -> None:
        return None
