"""What differs between the drivers of the one trial loop (``tuning.trial_loop``): a ``TrialPolicy``.

The loop and the hooks never ask which driver runs them; they ask the policy:

- ``SearchPolicy``: a local search, or a resumed one (``attempts``, ``earlier``, ``abandon`` and ``elapsed``
  carried over): a trial's row is ``<run>:<KerasTuner id>``, ``-a<n>`` for a re-run's n-th attempt.
- ``WorkerPolicy``: a worker of a distributed search: its id on every row, a retried trial's earlier
  attempts counted in the tracker (other workers wrote them) when it begins, its own journal folder.
- ``ReproducePolicy``: one KerasTuner trial recorded as ``as_trial`` (its id, seed, kind and links).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Callable, Mapping

from autosearch.config import PipelineConfig
from autosearch.tracking import TrialRecord
from autosearch.tracking.records import trial_id_of


def trial_seed(run_seed: int, keras_trial_id: str) -> int:
    """A trial's seed, derived from the run seed and its KerasTuner id (stable across processes)."""
    digest = hashlib.sha256(f"{run_seed}:{keras_trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def fixed_hyperparameters(values: Mapping[str, Any]) -> Any:
    """KerasTuner hyperparameters with every value fixed (KerasTuner's own ``tuner/*`` bookkeeping left out)."""
    import keras_tuner

    hps = keras_tuner.HyperParameters()
    for name, value in values.items():
        if not name.startswith("tuner/"):
            hps.Fixed(name, value)
    return hps



class TrialPolicy:
    """The defaults: a fresh local search. Subclasses override the few answers that differ."""

    overwrite = True  # a fresh AutoKeras project
    keeps_hyperparameters = False  # True: the row's hyperparameters are fixed, never the grown ones
    may_prune = True  # False: this process sees only some trials, so it must not delete checkpoints
    abandon: frozenset[str] = frozenset()  # KerasTuner ids of interrupted trials to close instead of re-run
    earlier: Mapping[str, float] = {}  # KerasTuner id -> objective, completed by an earlier process
    elapsed = 0.0  # seconds of the time budget spent before this process

    def begin(self, keras_trial_id: str) -> None:
        """Called as a trial begins, before its id is asked for."""

    def trial_id(self, run_id: str, keras_trial_id: str) -> str:
        return trial_id_of(run_id, keras_trial_id)

    def seed(self, cfg: PipelineConfig, keras_trial_id: str) -> int:
        return trial_seed(cfg.search.seed, keras_trial_id)

    def record(self, record: TrialRecord) -> TrialRecord:
        """The row logged when a trial begins, from the one the hooks built."""
        return record

    def journal_dir(self, run_dir: Path) -> Path:
        """The folder of the tracker journal (``tracking.journal``) of this process's trial writes."""
        return run_dir

    def tuner_name(self, cfg: PipelineConfig) -> str:
        return cfg.search.tuner

    def epochs(self, cfg: PipelineConfig) -> int:
        return cfg.search.epochs

    def patience(self, cfg: PipelineConfig) -> int:
        return cfg.search.patience or cfg.search.epochs

    def announced(self, cfg: PipelineConfig) -> tuple[int, float | None]:
        """(trials, time budget) the progress display announces."""
        return cfg.search.max_trials, cfg.search.time_budget

    def model_args(self, cfg: PipelineConfig) -> dict[str, Any]:
        """Extra arguments of ``automodel.build_auto_model`` (``max_trials``, ``kwargs``)."""
        return {}

    def tuner_class(self, tracked: type) -> type:
        """The tuner class the AutoModel gets, from the tracked one."""
        return tracked

    def translate(self, exc: BaseException, hooks: Any) -> BaseException | None:
        """What a failed fit means: the exception to raise (its ``__cause__`` set), or None when it is this
        driver's normal end."""
        return exc


@dataclasses.dataclass
class SearchPolicy(TrialPolicy):
    """A local search; with ``resumed``, one a new process resumes (see ``workflows.search``)."""

    resumed: bool = False
    attempts: Mapping[str, int] = dataclasses.field(default_factory=dict)  # KerasTuner id -> rows it has
    earlier: Mapping[str, float] = dataclasses.field(default_factory=dict)
    abandon: frozenset[str] = frozenset()
    elapsed: float = 0.0
    explain: Callable[[BaseException, Any], BaseException] | None = None

    @property
    def overwrite(self) -> bool:  # type: ignore[override]
        return not self.resumed

    def trial_id(self, run_id: str, keras_trial_id: str) -> str:
        earlier = self.attempts.get(keras_trial_id, 0)
        return trial_id_of(run_id, f"{keras_trial_id}-a{earlier + 1}" if earlier else keras_trial_id)

    def translate(self, exc: BaseException, hooks: Any) -> BaseException | None:
        return self.explain(exc, hooks) if self.explain and isinstance(exc, Exception) else exc


@dataclasses.dataclass
class WorkerPolicy(SearchPolicy):
    """A worker of a distributed search; ``count_rows(KerasTuner id)``: the rows its trial has already."""

    worker: str = ""
    count_rows: Callable[[str], int] = lambda keras_trial_id: 0
    wrap: Callable[[type], type] = lambda tracked: tracked
    lost: Callable[[BaseException], BaseException | None] = lambda exc: exc
    may_prune = False  # a worker sees only its own trials: the chief prunes

    @property
    def overwrite(self) -> bool:  # type: ignore[override]
        return False  # a project removed by one process would vanish under the others

    def begin(self, keras_trial_id: str) -> None:
        self.attempts = {**self.attempts, keras_trial_id: self.count_rows(keras_trial_id)}

    def record(self, record: TrialRecord) -> TrialRecord:
        return dataclasses.replace(record, extra={**(record.extra or {}), "worker": self.worker})

    def journal_dir(self, run_dir: Path) -> Path:
        return run_dir / "workers" / self.worker  # one journal per process: workers share the run directory

    def tuner_class(self, tracked: type) -> type:
        return self.wrap(tracked)

    def translate(self, exc: BaseException, hooks: Any) -> BaseException | None:
        return self.lost(exc)


@dataclasses.dataclass
class ReproducePolicy(TrialPolicy):
    """One KerasTuner trial, its hyperparameters fixed, trained ``n_epochs`` and recorded as ``as_trial``."""

    as_trial: TrialRecord
    n_epochs: int
    keeps_hyperparameters = True
    may_prune = False

    def trial_id(self, run_id: str, keras_trial_id: str) -> str:
        return self.as_trial.trial_id

    def seed(self, cfg: PipelineConfig, keras_trial_id: str) -> int:
        return self.as_trial.seed if self.as_trial.seed is not None else super().seed(cfg, keras_trial_id)

    def record(self, record: TrialRecord) -> TrialRecord:
        return dataclasses.replace(self.as_trial, state=record.state, started_at=record.started_at)

    def tuner_name(self, cfg: PipelineConfig) -> str:
        return "greedy"

    def epochs(self, cfg: PipelineConfig) -> int:
        return self.n_epochs

    def patience(self, cfg: PipelineConfig) -> int:
        return self.n_epochs + 1  # every epoch trains

    def announced(self, cfg: PipelineConfig) -> tuple[int, float | None]:
        return 1, None

    def model_args(self, cfg: PipelineConfig) -> dict[str, Any]:
        return {"max_trials": 1, "kwargs": {"hyperparameters": fixed_hyperparameters(self.as_trial.hyperparameters),
                                            "tune_new_entries": False, "allow_new_entries": True}}
