"""The autosearch error hierarchy.

Every error a user can cause is an ``AutosearchError``: the CLI prints its
message as one line and exits 2. Messages say what went wrong, where, and how
to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass


class AutosearchError(Exception):
    """Base class of every error a user can act on."""

    exit_code = 2


class ConfigError(AutosearchError):
    """A pipeline file or an override is invalid."""


class DataError(AutosearchError):
    """A data set cannot be loaded or is unfit for the task."""


class TrackerError(AutosearchError):
    """A tracker URI is invalid or a tracker operation is not allowed."""


class TrackerLockedError(TrackerError):
    """Another process held the tracker's write lock for longer than ``AUTOSEARCH_LOCK_TIMEOUT``: the write
    did not happen, and may succeed once the lock frees (a search journals its trials' writes meanwhile)."""


class UnknownRunError(TrackerError, KeyError):
    """No run with that id exists in the tracker."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownTrialError(TrackerError, KeyError):
    """No trial with that id exists in the tracker."""

    def __str__(self) -> str:
        return str(self.args[0])


class TrialFinishedError(TrackerError, RuntimeError):
    """A finished trial is read-only: it cannot be updated or finished again."""


class SearchError(AutosearchError):
    """A search could not produce a usable model."""


class UnsupportedVersionError(SearchError):
    """The installed KerasTuner, AutoKeras or Keras is not the release autosearch's adapter was written for."""


class RecordError(AutosearchError, ValueError):
    """A stored record (run, trial, epoch) lacks a field it needs: the tracker data is damaged or foreign."""


class ExportError(AutosearchError):
    """A bundle could not be written or does not reproduce the model's predictions."""


class BundleError(AutosearchError):
    """A bundle is missing, damaged, or from a newer format."""


class InputError(AutosearchError):
    """Raw inputs do not fit a bundle's input schema."""


class ReproduceError(AutosearchError):
    """A trial cannot be reproduced as asked."""


class ViewError(AutosearchError):
    """A leaderboard, compare or report request cannot be answered."""


class DistributedError(AutosearchError):
    """A chief or worker of a distributed search cannot start: a port taken, a run that is not live, a worker
    whose pipeline or data differ from the chief's."""


class ChiefLost(KeyboardInterrupt):
    """A worker's chief stopped answering: the worker closes its trial (INTERRUPTED) and exits 3. A
    ``KeyboardInterrupt`` so that it passes KerasTuner's per-trial ``except Exception``."""

    exit_code = 3


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, a scheduler): handled like Ctrl-C, exit code 143."""

    exit_code = 143

    def __init__(self, message: str = "terminated (SIGTERM)"):
        super().__init__(message)


@dataclass(frozen=True)
class Marked:
    """What a stopped search recorded INTERRUPTED: its run and the trials it was training. The search sets it
    on the ``KeyboardInterrupt`` it re-raises (``exc.marked``); the CLI's last line says exactly that, and
    nothing when a command stopped before it had a run (predict, export, report...)."""

    run_id: str
    trials: tuple[str, ...] | None = None  # None: unknown (the tracker could not be read)
