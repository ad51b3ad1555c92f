"""The tracker contract.

Writing and reading are two interfaces so that a write-only backend (ClearML)
and a composite that fans writes out to several backends fit the same seams:
the search only needs a ``TrackerWriter``; leaderboards, reports and reproduce
need a ``Tracker``. Every backend passes ``tests/tracking/test_tracker_contract.py``.

Liveness: a search beats (``heartbeat``) every few seconds while it runs. A
reading tracker reports a RUNNING run whose process is gone (same host, pid
no longer exists) or silent for more than ``liveness.STALE_AFTER`` seconds as
INTERRUPTED, with ``summary["error"]`` saying who stopped and how to resume,
and its RUNNING trials as INTERRUPTED; reads never write. So a RUNNING run
read back is a live one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.tracking.records import EpochMetrics, RunInfo, RunStatus, TrialKind, TrialRecord, TrialState


class TrackerWriter(ABC):
    """Where a search reports runs, trials and epochs.

    Each call is atomic: a crash between two calls leaves a RUNNING trial or
    run, never half a record. A write that waited longer than the lock timeout
    (``AUTOSEARCH_LOCK_TIMEOUT``) for another writer raises ``TrackerLockedError``
    and did not happen: making it again later is safe. A search does not lose
    its trials to it: ``journal.JournalledWriter`` keeps them until the lock frees.
    """

    uri: str

    @abstractmethod
    def start_run(self, run: RunInfo) -> None:
        """Record a new run. Raises ``TrackerError`` if its id already exists."""

    @abstractmethod
    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        ended_at: float,
        best_trial_id: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Close a run. Raises ``UnknownRunError`` for an unknown id."""

    @abstractmethod
    def log_trial(self, trial: TrialRecord) -> None:
        """Record a new trial of an existing run (usually RUNNING).

        Raises ``UnknownRunError`` if its run is unknown and ``TrackerError`` if
        the trial id already exists.
        """

    @abstractmethod
    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        """Append one epoch's metrics to a RUNNING trial.

        Raises ``UnknownTrialError`` for an unknown id and ``TrialFinishedError``
        once the trial is finished.
        """

    @abstractmethod
    def finish_trial(
        self,
        trial_id: str,
        state: TrialState,
        *,
        ended_at: float,
        objective: float | None = None,
        best_epoch: int | None = None,
        trainable_params: int | None = None,
        error: str | None = None,
        extra: Mapping[str, Any] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Move a RUNNING trial to a finished ``state``; ``extra`` is merged into the recorded one, and
        ``hyperparameters``, when given, replace the recorded ones (a model's build can register
        conditional hyperparameters that were unknown when the trial began).

        Raises ``UnknownTrialError`` for an unknown id, ``TrialFinishedError``
        if it is already finished, and ``ValueError`` if ``state`` is RUNNING.
        """

    @abstractmethod
    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        """Attach a file or folder the caller wrote (``report``, ``manifest``, ``bundle``) to a run.

        The tracker records (or uploads) it and never renders or writes it
        itself; a name logged again replaces the earlier path. Raises
        ``UnknownRunError`` for an unknown id.
        """

    @abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()) -> None:
        """Add ``tags`` to a run's tags (a key already there gets the new value) and drop the keys in ``remove``
        (a key the run lacks is ignored); the run's other tags stay. Allowed in any run status.

        Keys and values are checked with ``records.check_tags`` first: a bad one raises ``TrackerError`` and
        nothing is written. Raises ``UnknownRunError`` for an unknown id. Tags given to ``start_run``
        (``RunInfo.tags``) are recorded the same way.
        """

    @abstractmethod
    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        """Set a run's ``name`` (one line) and/or ``note`` (free text); None leaves a field as it is, ``""``
        clears it. Allowed in any run status. Values are checked with ``records.check_name``/``check_note``
        (``TrackerError``, nothing written); raises ``UnknownRunError`` for an unknown id.
        """

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        """Record that process ``pid`` on ``host`` is alive at ``at`` (epoch seconds) for a RUNNING run.

        The search calls this every 5-10 s, possibly from a thread while another thread writes.
        A beat for a run that is no longer RUNNING is ignored (a late beat after ``finish_run``
        is harmless). Raises ``UnknownRunError`` for an unknown id. This default keeps no
        liveness and suits write-only backends; every readable ``Tracker`` implements it.
        """

    def close(self) -> None:
        """Release connections and flush what is buffered; the default holds none."""

    def __enter__(self) -> "TrackerWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Tracker(TrackerWriter):
    """A tracker that can also be read back.

    Every read applies liveness (see the module docstring): ``get_run``, ``list_runs``,
    ``get_trial``, ``list_trials`` and ``find_trials`` never show a dead run as RUNNING.
    """

    @abstractmethod
    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        """See ``TrackerWriter.heartbeat``; stored so that reads can tell a live run from a dead one."""

    @abstractmethod
    def restart_run(self, run_id: str) -> RunInfo:
        """Make an INTERRUPTED or FAILED run (or a RUNNING one whose process is dead) RUNNING again,
        for ``autosearch resume``; return the updated run.

        ``ended_at`` is cleared, ``summary["error"]`` dropped, ``summary["duration"]`` set to the
        seconds the run has searched over all its attempts so far (a killed attempt counts up to its
        last heartbeat) and ``summary["resumed_at"]`` to now; trials still stored RUNNING are
        recorded INTERRUPTED (with the reason; ``extra["process_died"]`` when the run's process
        died without closing them), and the calling process's heartbeat (its pid on
        this host, now) is recorded, since that process is the one that resumes. Raises
        ``UnknownRunError`` for an unknown id and ``TrackerError`` naming the reason for a
        COMPLETED run or a live one.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> RunInfo:
        """Return a run. Raises ``UnknownRunError`` for an unknown id."""

    @abstractmethod
    def list_runs(self) -> list[RunInfo]:
        """All runs, newest first."""

    @abstractmethod
    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        """Return a trial, with its epochs unless told not to.

        Raises ``UnknownTrialError`` for an unknown id.
        """

    @abstractmethod
    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        """The trials of a run in the order they started.

        Raises ``UnknownRunError`` for an unknown run id.
        """

    def find_trials(
        self,
        run_ids: Sequence[str] | None = None,
        *,
        states: Sequence[TrialState] | None = None,
        kinds: Sequence[TrialKind] | None = None,
        top: int | None = None,
    ) -> list[TrialRecord]:
        """Trials of the given runs (all runs if None) filtered by state and kind, without epochs, in start order;
        with ``top``, only the first ``top`` in leaderboard order (``TrialRecord.leaderboard_key``).

        Backends override this with an indexed query; this default reads run by run.
        """
        runs = {r.run_id: r for r in self.list_runs()} if run_ids is None else {i: None for i in run_ids}
        found = [
            t for run_id in runs for t in self.list_trials(run_id)
            if (states is None or t.state in states) and (kinds is None or t.kind in kinds)
        ]
        if top is None:
            return found
        directions = {i: (r or self.get_run(i)).direction for i, r in runs.items()}
        return sorted(found, key=lambda t: t.leaderboard_key(directions[t.run_id]))[:top]

    def trial_counts(self, run_ids: Sequence[str] | None = None, *,
                     kinds: Sequence[TrialKind] | None = None) -> dict[str, int]:
        """How many trials (of ``kinds``) each run has; runs without any are left out."""
        counts: dict[str, int] = {}
        for t in self.find_trials(run_ids, kinds=kinds):
            counts[t.run_id] = counts.get(t.run_id, 0) + 1
        return counts

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete a run with its trials and epochs. Raises ``UnknownRunError`` for an unknown id."""
