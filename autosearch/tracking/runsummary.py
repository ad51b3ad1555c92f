"""What a run produced, typed: ``RunSummary`` is the run record's ``summary`` read into fields.

The tracker stores the summary as a JSON object (it merges the keys a run's start, end, resume and
artifacts write); ``RunSummary.from_dict`` reads any stored one, from release 0.1.0 on: a key it does not
know is kept in ``other`` and written back by ``to_dict``, which leaves out what is unset (None or
empty), so a partial summary merged into a stored one never blanks a key it does not carry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

# the lost-worker timeout a distributed run records; older runs recorded none
DEFAULT_LOST_AFTER = 20.0


@dataclass(frozen=True)
class RunSummary:
    """The run's paths (relative to AUTOSEARCH_HOME since 0.1.0), outcome and bookkeeping."""

    run_dir: str | None = None  # where its files live, as recorded
    bundle: str | None = None  # the best trial's bundle, as recorded
    best_objective: float | None = None
    scores: Mapping[str, Any] = field(default_factory=dict)  # metric, validation, test of the best model
    n_trials: int | None = None
    duration: float | None = None  # seconds, over all attempts of a resumed run
    error: str | None = None  # why it failed or stopped
    artifacts: Mapping[str, str] = field(default_factory=dict)  # name -> path, as logged
    fitted: Mapping[str, Any] = field(default_factory=dict)  # settings fitted to the data
    fixes: tuple[str, ...] = ()  # AutoKeras workarounds applied to a graph pipeline
    baselines_won: tuple[Mapping[str, Any], ...] = ()  # baselines that beat the best trial on test
    distributed: Mapping[str, Any] = field(default_factory=dict)  # chief address, lost_after
    selection: Mapping[str, Any] = field(default_factory=dict)  # holdout or cv, its threshold, which trials
    resumed_at: float | None = None
    other: Mapping[str, Any] = field(default_factory=dict)  # keys this release does not know, kept as read

    @property
    def chief(self) -> str | None:
        """The address a distributed run's chief served on (``host:port``); None for a local run."""
        return self.distributed.get("chief")

    @property
    def lost_after(self) -> float:
        """Seconds of silence after which a distributed run's worker counts as lost."""
        return float(self.distributed.get("lost_after") or DEFAULT_LOST_AFTER)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "other" or value is None or (not value and not isinstance(value, (int, float))):
                continue
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            out[f.name] = value
        return {**self.other, **out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "RunSummary":
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"other"}
        kwargs = {k: v for k, v in data.items() if k in known and v is not None}
        for name in ("fixes", "baselines_won"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs, other={k: v for k, v in data.items() if k not in known})
