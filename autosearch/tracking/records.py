"""Value objects that trackers, views and reproduce exchange.

They are frozen: a record read from a tracker is a snapshot, and changes go
through the tracker's write methods so that every backend sees them.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autosearch.environment import autosearch_home
from autosearch.errors import RecordError, TrackerError
from autosearch.tracking.runsummary import RunSummary

__all__ = ["EpochMetrics", "RunInfo", "RunStatus", "RunSummary", "TrialKind", "TrialRecord", "TrialState",
           "check_name", "check_note", "check_tags", "split_trial_id", "trial_id_of"]


class TrialState(str, enum.Enum):
    """Life cycle of a trial. Only RUNNING trials can be written to."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INVALID = "INVALID"
    INTERRUPTED = "INTERRUPTED"

    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


class TrialKind(str, enum.Enum):
    """Why a trial exists: found by the search, a reference model, a re-run, or an ensemble of search trials
    (weighted members in ``extra["members"]``, chosen after the search: ``tuning.ensemble``)."""

    SEARCH = "search"
    BASELINE = "baseline"
    REPRODUCTION = "reproduction"
    ENSEMBLE = "ensemble"


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


def _require(cls_name: str, data: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise RecordError(f"{cls_name}.from_dict: missing keys {missing}; the record is damaged or not autosearch's.")


def _home_path(path: str | None) -> Path | None:
    if not path:
        return None
    if Path(path).is_absolute():
        return Path(path)
    return autosearch_home() / path


TAG_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}")
RESERVED_TAG_PREFIXES = ("autosearch.", "mlflow.")  # backends may keep their own tags there
MAX_TAG_VALUE, MAX_NAME, MAX_NOTE = 250, 100, 5000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_tags(tags: Mapping[str, Any], remove: Any = ()) -> dict[str, str]:
    """``tags`` as a plain dict after checking them: a key is 1-64 letters, digits, ``_ . : / -`` (not starting
    with ``. : / -``, not under ``autosearch.`` or ``mlflow.``); a value a string of up to 250 characters
    on one line (it may be empty). ``remove`` is checked as keys. Raises ``TrackerError`` naming the bad one."""
    for key in [*tags, *remove]:
        if not isinstance(key, str) or not TAG_KEY.fullmatch(key) or key.startswith(RESERVED_TAG_PREFIXES):
            raise TrackerError(f"tag key {key!r} is not allowed; use 1-64 letters, digits, _ . : / - (starting "
                               f"with a letter, digit or _); {' and '.join(RESERVED_TAG_PREFIXES)} are reserved.")
    for key, value in tags.items():
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE or _CONTROL.search(value):
            raise TrackerError(f"tag {key}={str(value)[:40]!r}: a value is a string of at most {MAX_TAG_VALUE} "
                               "characters on one line.")
    return dict(tags)


def check_name(name: str | None) -> str | None:
    """A run's name: one line of at most 100 characters; "" (cleared) and None (unchanged) pass."""
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME or _CONTROL.search(name)):
        raise TrackerError(f"run name {str(name)[:40]!r}: a name is one line of at most {MAX_NAME} characters.")
    return None if name is None else name.strip()


def check_note(note: str | None) -> str | None:
    """A run's note: free text of at most 5,000 characters (lines and tabs allowed)."""
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE or _CONTROL_BUT_LINES.search(note)):
        raise TrackerError(f"run note of {len(str(note))} characters: a note is text of at most {MAX_NOTE} "
                           "characters, without control characters other than new lines and tabs.")
    return note


def trial_id_of(run_id: str, local_id: str) -> str:
    """A trial's tracker id: ``<run id>/<id in the run>`` (KerasTuner's trial id, ``baseline-x``, ``3-r1``)."""
    return f"{run_id}/{local_id}"


def split_trial_id(trial_id: str) -> tuple[str, str]:
    """(run id, id in the run) of a tracker trial id; a bare id has an empty run id."""
    run_id, sep, local = trial_id.partition("/")
    return (run_id, local) if sep else ("", trial_id)


@dataclass(frozen=True)
class EpochMetrics:
    """The metrics Keras reported at the end of one epoch (0-based)."""

    epoch: int
    metrics: Mapping[str, float]
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "metrics": dict(self.metrics), "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EpochMetrics":
        _require(cls.__name__, data, ("epoch", "metrics", "timestamp"))
        return cls(int(data["epoch"]), dict(data["metrics"]), float(data["timestamp"]))


@dataclass(frozen=True)
class RunInfo:
    """One search run: what was searched, on which data, on which machine."""

    run_id: str
    pipeline: str
    task: str
    dataset: str
    seed: int
    started_at: float
    config: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)  # fingerprint, counts, baselines
    environment: Mapping[str, Any] = field(default_factory=dict)  # versions, git, host
    status: RunStatus = RunStatus.RUNNING
    ended_at: float | None = None
    best_trial_id: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)  # as stored; read it typed through ``outcome``
    heartbeat: Mapping[str, Any] = field(default_factory=dict)  # pid, host, at of the last beat; empty if none
    name: str | None = None  # a person's label for the run ("baseline rerun"); see Tracker.describe_run
    note: str | None = None  # free text about the run
    tags: Mapping[str, str] = field(default_factory=dict)  # key -> value; see Tracker.set_tags

    @property
    def fingerprint(self) -> str | None:
        return self.data.get("fingerprint")

    @property
    def outcome(self) -> RunSummary:
        """The stored ``summary``, typed: paths, scores, duration, error, what was fitted, baselines that won."""
        return RunSummary.from_dict(self.summary)

    @property
    def run_dir(self) -> Path | None:
        """Where the run's files live: a relative recorded ``run_dir`` (``runs/<run id>``) is resolved
        against ``AUTOSEARCH_HOME`` so that a copied or moved home stays self-contained; absolute ones
        (older runs) are returned as recorded."""
        return _home_path(self.outcome.run_dir)

    @property
    def objective(self) -> str | None:
        """The name of the metric trials were ranked by (``val_accuracy``)."""
        return self.config.get("search", {}).get("objective")

    @property
    def direction(self) -> str:
        return self.config.get("search", {}).get("direction", "max")

    @property
    def best_objective(self) -> float | None:
        return self.outcome.best_objective

    @property
    def scores(self) -> Mapping[str, Any]:
        """The best model's ``metric``, ``validation`` and ``test`` scores (empty until the run completes)."""
        return self.outcome.scores

    @property
    def bundle(self) -> Path | None:
        """The best trial's bundle; relative paths are resolved against ``AUTOSEARCH_HOME`` like ``run_dir``."""
        return _home_path(self.outcome.bundle)

    @property
    def duration(self) -> float | None:
        """Seconds the search ran, as it measured them at its end: over all attempts of a resumed run
        (while a resumed run runs: its attempts before this one; None while a first attempt runs)."""
        return self.outcome.duration

    @property
    def error(self) -> str | None:
        return self.outcome.error

    @property
    def artifacts(self) -> Mapping[str, str]:
        """Files attached to the run with ``log_artifact``: name -> path."""
        return self.outcome.artifacts

    @property
    def baseline(self) -> Mapping[str, Any]:
        """The majority-class (or mean) baseline: name, metric, validation, test."""
        return self.data.get("baseline", {})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunInfo":
        _require(cls.__name__, data, ("run_id", "pipeline", "task", "dataset", "seed", "started_at"))
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["status"] = RunStatus(kwargs.get("status", "RUNNING"))
        return cls(**kwargs)


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the tracker holds it; ``epochs`` is filled on read."""

    trial_id: str
    run_id: str
    kind: TrialKind
    state: TrialState
    hyperparameters: Mapping[str, Any]
    seed: int | None
    started_at: float
    ended_at: float | None = None
    objective: float | None = None
    best_epoch: int | None = None
    trainable_params: int | None = None
    error: str | None = None
    reproduces: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    epochs: tuple[EpochMetrics, ...] = ()

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def local_id(self) -> str:
        """The id inside its run: KerasTuner's trial id for search trials (``"03"``)."""
        return split_trial_id(self.trial_id)[1]

    @property
    def keras_trial_id(self) -> str | None:
        """KerasTuner's id of a search trial (its folder is ``autokeras/trial_<id>``); None for other kinds.
        A resumed run's re-run of an interrupted trial is ``<id>-a2`` in the tracker, ``<id>`` here."""
        if self.kind is not TrialKind.SEARCH:
            return None
        return (self.extra or {}).get("keras_trial_id") or self.local_id

    @property
    def warm_started_from(self) -> str | None:
        """The KerasTuner id of the Hyperband parent whose checkpoint this trial continued, if any."""
        return self.hyperparameters.get("tuner/trial_id") or None

    @property
    def best_epoch_metrics(self) -> Mapping[str, float]:
        """The recorded metrics of the best epoch (``best_epoch`` is absolute; a warm start's epochs begin later)."""
        if self.best_epoch is None:
            return {}
        for e in self.epochs:
            if e.epoch == self.best_epoch:
                return e.metrics
        return {}

    @property
    def ranked(self) -> bool:
        """Completed with a finite objective: the trials a leaderboard orders by score."""
        return self.state is TrialState.COMPLETED and self.objective is not None and not math.isnan(self.objective)

    def leaderboard_key(self, direction: str) -> tuple[bool, float, float, str]:
        """Where the trial stands in a leaderboard of a run of ``direction`` ("min" or "max"): ranked trials
        first, best first, then the others in start order; ties by start time, then id."""
        score = (self.objective if direction == "min" else -self.objective) if self.ranked else math.inf
        return not self.ranked, score, self.started_at if self.started_at is not None else math.inf, self.trial_id

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kind"] = self.kind.value
        out["state"] = self.state.value
        out["epochs"] = [e.to_dict() for e in self.epochs]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialRecord":
        _require(cls.__name__, data, ("trial_id", "run_id", "kind", "state", "hyperparameters", "seed", "started_at"))
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["kind"] = TrialKind(kwargs["kind"])
        kwargs["state"] = TrialState(kwargs["state"])
        kwargs["epochs"] = tuple(EpochMetrics.from_dict(e) for e in kwargs.get("epochs", ()))
        return cls(**kwargs)
