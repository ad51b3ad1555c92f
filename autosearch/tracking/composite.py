"""Write to several trackers, read from the first.

The local SQLite tracker is always the primary: leaderboards, reports and
reproduce read from it, so they work without a server. A secondary writer
that fails (a server gone away) is reported once and dropped; the search and
the local record go on.

A secondary that can be read back (MLflow) is also where runs the primary does
not hold are read from: a team mate's search on another machine, found on the
shared server. A run both hold is read from the primary.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from autosearch.errors import UnknownRunError, UnknownTrialError
from autosearch.tracking.base import Tracker, TrackerWriter
from autosearch.tracking.records import RunInfo, TrialRecord, split_trial_id


class CompositeTracker(Tracker):
    def __init__(self, primary: Tracker, writers: Sequence[TrackerWriter]):
        self.primary = primary
        self.writers = list(writers)
        self.uri = " + ".join([primary.uri, *(w.uri for w in self.writers)])
        self._local: set[str] = set()  # run ids the primary holds

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
        if self._remote(run_id):  # a run only the secondary holds (reproduce on another machine)
            return self._readable().finish_run(run_id, status, **kwargs)  # type: ignore[union-attr]
        self.primary.finish_run(run_id, status, **kwargs)
        self._fan_out(lambda w: w.finish_run(run_id, status, **kwargs))

    def log_trial(self, trial: TrialRecord) -> None:
        if self._remote(trial.run_id):  # a run only the secondary holds (reproduce on another machine)
            return self._readable().log_trial(trial)  # type: ignore[union-attr]
        self.primary.log_trial(trial)
        self._fan_out(lambda w: w.log_trial(trial))

    def log_epoch(self, trial_id: str, epoch: Any) -> None:
        if self._remote(split_trial_id(trial_id)[0]):  # a run only the secondary holds (reproduce on another machine)
            return self._readable().log_epoch(trial_id, epoch)  # type: ignore[union-attr]
        self.primary.log_epoch(trial_id, epoch)
        self._fan_out(lambda w: w.log_epoch(trial_id, epoch))

    def finish_trial(self, trial_id: str, state: Any, **kwargs: Any) -> None:
        if self._remote(split_trial_id(trial_id)[0]):  # a run only the secondary holds (reproduce on another machine)
            return self._readable().finish_trial(trial_id, state, **kwargs)  # type: ignore[union-attr]
        self.primary.finish_trial(trial_id, state, **kwargs)
        self._fan_out(lambda w: w.finish_trial(trial_id, state, **kwargs))

    def log_artifact(self, run_id: str, name: str, path: Any) -> None:
        if self._remote(run_id):  # a run only the secondary holds (reproduce on another machine)
            return self._readable().log_artifact(run_id, name, path)  # type: ignore[union-attr]
        self.primary.log_artifact(run_id, name, path)
        self._fan_out(lambda w: w.log_artifact(run_id, name, path))

    def set_tags(self, run_id: str, tags: Any, *, remove: Sequence[str] = ()) -> None:
        if self._remote(run_id):
            return self._readable().set_tags(run_id, tags, remove=remove)  # type: ignore[union-attr]
        self.primary.set_tags(run_id, tags, remove=remove)
        self._fan_out(lambda w: w.set_tags(run_id, tags, remove=remove))

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        if self._remote(run_id):
            return self._readable().describe_run(run_id, name=name, note=note)  # type: ignore[union-attr]
        self.primary.describe_run(run_id, name=name, note=note)
        self._fan_out(lambda w: w.describe_run(run_id, name=name, note=note))

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        self.primary.heartbeat(run_id, pid=pid, host=host, at=at)
        self._fan_out(lambda w: w.heartbeat(run_id, pid=pid, host=host, at=at))

    def restart_run(self, run_id: str) -> RunInfo:
        """Restarted in the primary, which the reads come from, and in the secondaries that are read back
        (their record would say INTERRUPTED while the resumed search writes on)."""
        run = self.primary.restart_run(run_id)
        self._fan_out(lambda w: w.restart_run(run_id) if isinstance(w, Tracker) else None)
        return run

    def close(self) -> None:
        self._fan_out(lambda w: w.close())
        self.primary.close()

    # reads come from the primary; a run it does not hold, from a secondary that can be read back
    def _readable(self) -> Tracker | None:
        return next((w for w in self.writers if isinstance(w, Tracker)), None)

    def _remote(self, run_id: str) -> bool:
        """The run is not in the primary but a readable secondary may hold it (a run found in the primary
        stays there: remembered, so that writes of a search cost no extra read)."""
        if self._readable() is None or run_id in self._local:
            return False
        try:
            self.primary.get_run(run_id)
        except UnknownRunError:
            return True
        self._local.add(run_id)
        return False

    def get_run(self, run_id: str) -> RunInfo:
        reader = self._readable() if self._remote(run_id) else self.primary
        return reader.get_run(run_id)  # type: ignore[union-attr]

    def _remote_runs(self) -> list[RunInfo]:
        other = self._readable()
        if other is None:
            return []
        local = {r.run_id for r in self.primary.list_runs()}
        return [r for r in other.list_runs() if r.run_id not in local]

    def list_runs(self) -> list[RunInfo]:
        runs = self.primary.list_runs() + self._remote_runs()
        return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        try:
            return self.primary.get_trial(trial_id, with_epochs=with_epochs)
        except UnknownTrialError:
            if (other := self._readable()) is None:
                raise
            return other.get_trial(trial_id, with_epochs=with_epochs)

    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        reader = self._readable() if self._remote(run_id) else self.primary
        return reader.list_trials(run_id, with_epochs=with_epochs)  # type: ignore[union-attr]

    def find_trials(self, run_ids: Any = None, **kwargs: Any) -> list[TrialRecord]:
        other = self._readable()
        if other is None:
            return self.primary.find_trials(run_ids, **kwargs)
        local = {r.run_id: r for r in self.primary.list_runs()}
        remote = {r.run_id: r for r in other.list_runs() if r.run_id not in local}
        mine = list(local) if run_ids is None else [i for i in run_ids if i in local]
        theirs = list(remote) if run_ids is None else [i for i in run_ids if i in remote]
        found = self.primary.find_trials(mine, **kwargs) + (other.find_trials(theirs, **kwargs) if theirs else [])
        if kwargs.get("top") is None:
            return found
        runs = {**local, **remote}
        return sorted(found, key=lambda t: t.leaderboard_key(runs[t.run_id].direction))[:kwargs["top"]]

    def trial_counts(self, run_ids: Any = None, **kwargs: Any) -> dict[str, int]:
        if self._readable() is None:
            return self.primary.trial_counts(run_ids, **kwargs)
        return super().trial_counts(run_ids, **kwargs)

    def fetch_run_folder(self, run: RunInfo) -> Any:
        """The run's folder from a readable secondary that keeps it (MLflow with ``?run_folder=1``); None
        when no secondary keeps folders."""
        fetch = getattr(self._readable(), "fetch_run_folder", None)
        return None if fetch is None else fetch(run)

    def delete_run(self, run_id: str) -> None:
        """Deleted from the primary and from every secondary read back that holds it (else the run would
        read back from there)."""
        if self._remote(run_id):
            return self._readable().delete_run(run_id)  # type: ignore[union-attr]  # unknown: UnknownRunError
        self.primary.delete_run(run_id)
        self._local.discard(run_id)
        self._fan_out(lambda w: _delete_if_held(w, run_id))



def _delete_if_held(writer: TrackerWriter, run_id: str) -> None:
    if isinstance(writer, Tracker):
        try:
            writer.delete_run(run_id)
        except UnknownRunError:
            pass
