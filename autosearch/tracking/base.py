"""The tracker contract.

Writing and reading are two interfaces so that a write-only backend (ClearML)
and a composite that fans writes out to several backends fit the same seams:
the search only needs a ``TrackerWriter``; leaderboards, reports and reproduce
need a ``Tracker``. Every backend passes ``tests/tracking/test_tracker_contract.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.tracking.records import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrialKind,
    TrialRecord,
    TrialState,
)


class TrackerWriter(ABC):
    """Where a search reports runs, trials and epochs.

    Each call is atomic: a crash between two calls leaves a RUNNING trial or
    run, never half a record.
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
    ) -> None:
        """Move a RUNNING trial to a finished ``state``.

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

    def close(self) -> None:
        """Release connections and flush what is buffered; the default holds none."""

    def __enter__(self) -> "TrackerWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Tracker(TrackerWriter):
    """A tracker that can also be read back."""

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
    ) -> list[TrialRecord]:
        """Trials of the given runs (all runs if None) filtered by state and kind, without epochs.

        Backends override this with an indexed query; this default reads run by run.
        """
        ids = list(run_ids) if run_ids is not None else [r.run_id for r in self.list_runs()]
        return [
            t for run_id in ids for t in self.list_trials(run_id)
            if (states is None or t.state in states) and (kinds is None or t.kind in kinds)
        ]

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete a run with its trials and epochs. Raises ``UnknownRunError`` for an unknown id."""
