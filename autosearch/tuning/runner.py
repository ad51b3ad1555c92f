"""Run the trials of a tracked AutoKeras search: baselines, then the tuner.

``run_trials`` records every trial of an already started run and returns the
best model; what happens to that model afterwards (scoring, predictions, the
bundle) and the run's own start and end belong to the caller
(``autosearch.workflows.search``). TensorFlow is imported when it is called.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.errors import SearchError
from autosearch.tracking import Tracker, TrackerWriter, TrialKind, TrialRecord, TrialState
from autosearch.tracking.records import trial_id_of
from autosearch.tuning.baselines import run_baselines
from autosearch.tuning.crossval import Outputs
from autosearch.tuning.hooks import TrialHooks
from autosearch.tuning.progress import Progress
from autosearch.tuning.selection import SelectingPolicy, Selector
from autosearch.tuning.trial_loop import LoopSetup, TrialLoop


def new_run_id(now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: sortable by start time, unique by its random tail."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(2)


@dataclass(frozen=True)
class Resumption:
    """What a resumed run carries over: earlier tracker rows per KerasTuner trial, the trials that
    killed the process twice (closed, not re-run), and the seconds already spent."""

    attempts: Mapping[str, int]
    abandon: frozenset[str]
    elapsed: float
    completed: Mapping[str, tuple[str, float]]  # search trials completed before: tracker id -> (KerasTuner id,
    # objective)


@dataclass(frozen=True)
class SearchOutcome:
    """The best trial of a finished search and its in-memory model."""

    best_trial_id: str
    best_objective: float
    n_trials: int
    model: Any = field(repr=False)
    pipeline: Any = field(repr=False)  # the fitted AutoKeras preprocessing of the best trial
    selection: Mapping[str, Any] = field(default_factory=dict)  # how trials were compared (the run summary's)


def log_baselines(tracker: TrackerWriter, run_id: str, cfg: PipelineConfig, split: SplitData,
                  progress: Progress, recorded: frozenset[str] = frozenset()) -> None:
    """Record reference models as ``baseline`` trials, but those whose trial ids are ``recorded``; their
    objective is their validation score when the pipeline's objective is that metric (``val_accuracy``,
    ``val_mean_absolute_error``)."""
    for result in run_baselines(split, cfg.search.seed):
        tid = trial_id_of(run_id, f"baseline-{result.name}")
        if tid in recorded:
            continue
        now = time.time()
        tracker.log_trial(TrialRecord(trial_id=tid, run_id=run_id, kind=TrialKind.BASELINE,
                                      state=TrialState.RUNNING, hyperparameters={},
                                      seed=cfg.search.seed, started_at=now - result.seconds))
        objective = result.validation if cfg.search.objective == f"val_{result.metric}" else None
        tracker.finish_trial(tid, TrialState.COMPLETED, ended_at=now, objective=objective, extra={
            "model": result.description, "metric": result.metric, "validation": result.validation,
            "test": result.test, **({"settings": dict(result.settings)} if result.settings else {})})
        progress.message(f"baseline {result.name}: validation {result.metric} {result.validation:.4f}")


def run_trials(cfg: PipelineConfig, tracker: TrackerWriter, run_id: str, run_dir: Path, split: SplitData,
               progress: Progress, resumption: Resumption | None = None,
               outputs: Outputs | None = None) -> SearchOutcome:
    """Score the baselines and search ``cfg``'s space, recording every trial of run ``run_id``.

    The best trial is the selection rule's (``tracking.selection``; on small data by cross-validation,
    whose out-of-fold ``outputs(model, pipeline, rows)`` are kept when given): the oracle's best, whose model
    and pipeline are returned. A trial still running when this raises is closed first (INTERRUPTED on
    Ctrl-C, FAILED otherwise). Raises ``SearchError`` when no trial completed. A held tracker lock costs
    no trial: its records wait in the run's journal (``tracking.journal``), all written before this returns.
    """
    earlier_records = tracker.list_trials(run_id, with_epochs=True) if (
        resumption is not None and isinstance(tracker, Tracker)) else []
    selector = Selector(cfg, split, run_id, run_dir, outputs, earlier_records)
    policy = SelectingPolicy(explain=lambda exc, hooks: _explain(exc, hooks, run_id), selector=selector)
    if resumption is not None:
        policy = SelectingPolicy(resumed=True, attempts=resumption.attempts, abandon=resumption.abandon,
                                 earlier={kt: obj for kt, obj in resumption.completed.values()},
                                 elapsed=resumption.elapsed, explain=policy.explain, selector=selector)
    loop = TrialLoop(LoopSetup(cfg, tracker, run_id, run_dir, split, progress), policy)
    selector.attach(loop.hooks)
    baselines = (lambda writer: log_baselines(writer, run_id, cfg, split, progress)) if (
        cfg.search.baselines and resumption is None) else None
    auto_model = loop.run(baselines)
    hooks = loop.hooks
    tracker_ids = {kt: tid for tid, (kt, _) in (resumption.completed.items() if resumption else ())}
    tracker_ids.update({t.keras_trial_id: t.trial_id for t in hooks.finished() if t.objective is not None})
    objectives = {tid: obj for tid, (_, obj) in (resumption.completed.items() if resumption else ())}
    objectives.update({t.trial_id: t.objective for t in hooks.finished() if t.objective is not None})
    best = auto_model.tuner.oracle.get_best_trials(1) if tracker_ids else []
    best_id = tracker_ids.get(best[0].trial_id) if best else None
    if best_id is None:
        errors = "; ".join(hooks.errors())
        raise SearchError(f"run {run_id}: no trial completed" + (f" ({errors})." if errors else "."))
    n_trials = len(hooks.trials) + (len(resumption.completed) if resumption else 0)
    return SearchOutcome(best_id, objectives[best_id], n_trials,
                         auto_model.tuner.get_best_model(), auto_model.tuner.get_best_pipeline(), selector.record)


def _explain(exc: BaseException, hooks: TrialHooks, run_id: str) -> BaseException:
    """With no completed trial AutoKeras fails looking for the best one, and KerasTuner gives up after
    3 consecutive failed trials: say why instead."""
    errors = "; ".join(hooks.errors())
    if hooks.best() is None:
        explained = SearchError(f"run {run_id}: no trial completed ({errors or f'{type(exc).__name__}: {exc}'}).")
    elif "consecutive failures" in str(exc):
        explained = SearchError(f"run {run_id}: KerasTuner stopped the search after consecutive failed trials "
                                f"({errors}); the completed ones are in 'autosearch leaderboard {run_id}'.")
    else:
        return exc
    explained.__cause__ = exc
    return explained
