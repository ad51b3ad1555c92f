"""Write to several trackers, read from the first.

The local SQLite tracker is always the primary: leaderboards, reports and
reproduce read from it, so they work without a server. A secondary writer
that fails (a server gone away) is reported once and dropped; the search and
the local record go on.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from autosearch.tracking.base import Tracker, TrackerWriter
from autosearch.tracking.records import RunInfo, TrialRecord


class CompositeTracker(Tracker):
    def __init__(self, primary: Tracker, writers: Sequence[TrackerWriter]):
        self.primary = primary
        self.writers = list(writers)
        self.uri = " + ".join([primary.uri, *(w.uri for w in self.writers)])

    def _fan_out(self, call: Callable[[TrackerWriter], Any]) -> None:
        for writer in list(self.writers):
            try:
                call(writer)
            except Exception as exc:  # noqa: BLE001 - a secondary backend must not stop the search
                print(f"warning: {writer.uri} failed ({type(exc).__name__}: {exc}); "
                      f"continuing with {self.primary.uri} only.", file=sys.stderr)
                self.writers.remove(writer)
                try:
                    writer.close()
                except Exception:  # noqa: BLE001 - best effort on a writer that already failed
                    pass

    def start_run(self, run: RunInfo) -> None:
        self.primary.start_run(run)
        self._fan_out(lambda w: w.start_run(run))

    def finish_run(self, run_id: str, status: Any, **kwargs: Any) -> None:
        self.primary.finish_run(run_id, status, **kwargs)
        self._fan_out(lambda w: w.finish_run(run_id, status, **kwargs))

    def log_trial(self, trial: TrialRecord) -> None:
        self.primary.log_trial(trial)
        self._fan_out(lambda w: w.log_trial(trial))

    def log_epoch(self, trial_id: str, epoch: Any) -> None:
        self.primary.log_epoch(trial_id, epoch)
        self._fan_out(lambda w: w.log_epoch(trial_id, epoch))

    def finish_trial(self, trial_id: str, state: Any, **kwargs: Any) -> None:
        self.primary.finish_trial(trial_id, state, **kwargs)
        self._fan_out(lambda w: w.finish_trial(trial_id, state, **kwargs))

    def log_artifact(self, run_id: str, name: str, path: Any) -> None:
        self.primary.log_artifact(run_id, name, path)
        self._fan_out(lambda w: w.log_artifact(run_id, name, path))

    def set_tags(self, run_id: str, tags: Any, *, remove: Sequence[str] = ()) -> None:
        self.primary.set_tags(run_id, tags, remove=remove)
        self._fan_out(lambda w: w.set_tags(run_id, tags, remove=remove))

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        self.primary.describe_run(run_id, name=name, note=note)
        self._fan_out(lambda w: w.describe_run(run_id, name=name, note=note))

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        self.primary.heartbeat(run_id, pid=pid, host=host, at=at)
        self._fan_out(lambda w: w.heartbeat(run_id, pid=pid, host=host, at=at))

    def restart_run(self, run_id: str) -> RunInfo:
        """Restarted in the primary, which the reads come from; secondary writers keep their own record."""
        return self.primary.restart_run(run_id)

    def close(self) -> None:
        self._fan_out(lambda w: w.close())
        self.primary.close()

    # reads come from the primary
    def get_run(self, run_id: str) -> RunInfo:
        return self.primary.get_run(run_id)

    def list_runs(self) -> list[RunInfo]:
        return self.primary.list_runs()

    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        return self.primary.get_trial(trial_id, with_epochs=with_epochs)

    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        return self.primary.list_trials(run_id, with_epochs=with_epochs)

    def find_trials(self, run_ids: Any = None, **kwargs: Any) -> list[TrialRecord]:
        return self.primary.find_trials(run_ids, **kwargs)

    def trial_counts(self, run_ids: Any = None, **kwargs: Any) -> dict[str, int]:
        return self.primary.trial_counts(run_ids, **kwargs)

    def delete_run(self, run_id: str) -> None:
        self.primary.delete_run(run_id)
