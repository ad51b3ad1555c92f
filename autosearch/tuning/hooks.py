"""KerasTuner life-cycle events -> tracker records.

The AutoKeras tuner is subclassed only to call ``TrialHooks`` from KerasTuner's
hooks (``on_trial_begin``, ``on_trial_end``) and from a per-epoch Keras
callback; the hooks talk to a ``TrackerWriter`` and never to a concrete
backend. Each trial being trained is one ``LiveTrial``.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from autosearch.config import PipelineConfig
from autosearch.errors import Terminated
from autosearch.tracking import (
    EpochMetrics,
    TrackerWriter,
    TrialKind,
    TrialRecord,
    TrialState,
)
from autosearch.tuning.checkpoints import prune_checkpoints
from autosearch.tuning.policy import TrialPolicy, trial_seed  # noqa: F401 - trial_seed: benchmarks use it here
from autosearch.tuning.progress import Progress
from autosearch.tuning.verdicts import error_line, refusal
from autosearch.tuning.resources import ResourceSampler
from autosearch.tuning import trial_tensorboard

# KerasTuner marks a trial FAILED when it raises FailedTrialError, which it does
# for configurations it rejects (an oversized model): for us those are INVALID.
# Any other exception in a trial KerasTuner calls INVALID: for us, FAILED.
_KT_STATES = {"COMPLETED": TrialState.COMPLETED, "FAILED": TrialState.INVALID, "INVALID": TrialState.FAILED}


def set_global_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras (and so TensorFlow) at trial start."""
    import keras

    keras.utils.set_random_seed(seed)


def best_of(values: list[float | None], direction: str) -> tuple[int, float] | None:
    """(index, value) of the best finite value, or None."""
    finite = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    pick = max if direction == "max" else min
    return pick(finite, key=lambda iv: iv[1])


@dataclass
class LiveTrial:
    """What the hooks know of one trial between its begin and end."""

    trial_id: str
    keras_trial_id: str
    history: list[float | None] = field(default_factory=list)  # the objective, epoch by epoch
    first_epoch: int = 0  # a Hyperband warm start continues at tuner/initial_epoch
    params: int | None = None
    summary_path: str | None = None
    traceback_path: str | None = None  # the whole traceback of a trial that raised, in the run directory
    sampler: ResourceSampler | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # as recorded when the trial began
    objective: float | None = None  # set when the trial ends
    diverged_at: int | None = None  # the first epoch whose loss was not finite; training stops there
    error: str | None = None
    ended: bool = False
    notes: dict[str, Any] = field(default_factory=dict)  # added to the row's extra as it ends (tuning.selection)
    tensorboard: Path | None = None  # the attempt's TensorBoard folder (tuning.trial_tensorboard)
    hparams: trial_tensorboard.HParamsSession | None = None  # its HParams session, from fit begin to the end

    def resources(self) -> dict[str, float]:
        sampler, self.sampler = self.sampler, None
        return sampler.stop() if sampler else {}


@dataclass
class TrialHooks:
    """Bridges tuner life-cycle events to a tracker and a progress display."""

    tracker: TrackerWriter
    run_id: str
    cfg: PipelineConfig
    progress: Progress
    run_dir: Path
    started: float = field(default_factory=time.monotonic)
    trials: dict[str, LiveTrial] = field(default_factory=dict)  # by tracker trial id, in start order
    current: LiveTrial | None = None
    stop_requested: KeyboardInterrupt | None = None  # set by a signal; raised at the next batch end
    policy: TrialPolicy = field(default_factory=TrialPolicy)  # how this driver names, seeds, records trials
    chooser: Callable[[list[LiveTrial]], LiveTrial | None] | None = None  # the selection rule (tuning.selection)

    def full_id(self, trial: Any) -> str:
        return self.policy.trial_id(self.run_id, trial.trial_id)

    def seed_for(self, trial: Any) -> int:
        return self.policy.seed(self.cfg, trial.trial_id)

    @property
    def prune_as_you_go(self) -> bool:
        """Only the best trial's weights are needed later, except by Hyperband, which warm-starts
        later trials from earlier ones, and by ensemble selection, which scores every trial's best epoch
        after the search and may export several (both pruned when the search ends instead)."""
        return (self.policy.may_prune and self.cfg.search.checkpoints == "best" and self.cfg.search.tuner != "hyperband"
                and self.cfg.search.ensemble == "off")

    def budget_exhausted(self) -> bool:
        budget = self.cfg.search.time_budget
        return budget is not None and time.monotonic() - self.started >= budget

    def finished(self) -> list[LiveTrial]:
        return [t for t in self.trials.values() if t.ended]

    def best(self) -> LiveTrial | None:
        done = self.finished()
        if self.chooser is not None:
            return self.chooser(done)
        found = best_of([t.objective for t in done], self.cfg.search.direction)
        return None if found is None else done[found[0]]

    def errors(self) -> list[str]:
        return sorted({t.error for t in self.finished() if t.error})

    def trial_begin(self, trial: Any) -> None:
        self.policy.begin(trial.trial_id)
        live = LiveTrial(self.full_id(trial), trial.trial_id,
                         first_epoch=int(trial.hyperparameters.values.get("tuner/initial_epoch", 0) or 0))
        self.trials[live.trial_id] = self.current = live
        live.hyperparameters = dict(trial.hyperparameters.values)
        self.tracker.log_trial(self.policy.record(TrialRecord(
            trial_id=live.trial_id, run_id=self.run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
            hyperparameters=live.hyperparameters, seed=self.seed_for(trial), started_at=time.time(),
            extra={"keras_trial_id": trial.trial_id})))
        live.sampler = ResourceSampler().start()
        self.progress.trial_begin(live.trial_id)

    def fit_callbacks(self, trial: Any, callbacks: list, total_epochs: int) -> list:
        """The callbacks of a trial's fit: the TensorBoard one pointed at the attempt's folder, and ours."""
        live = self.trials[self.full_id(trial)]
        live.tensorboard = trial_tensorboard.aim(callbacks, live.trial_id)
        return [*callbacks, _epoch_recorder(self, trial, total_epochs)]

    def fit_begin(self, trial: Any, model: Any) -> None:
        live = self.trials[self.full_id(trial)]
        if live.tensorboard is not None and live.hparams is None:  # the values the build left (grown ones too)
            live.hparams = trial_tensorboard.HParamsSession(live.tensorboard, live.trial_id)
            live.hparams.start(trial.hyperparameters.values)
        live.params = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
        lines: list[str] = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line))
        live.summary_path = self._keep(trial.trial_id, "model_summary.txt", "\n".join(lines))

    def _keep(self, keras_trial_id: str, name: str, text: str) -> str:
        """Write ``text`` to the trial's folder of the run directory; its path relative to the run directory."""
        path = self.run_dir / "trials" / keras_trial_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.rstrip("\n") + "\n")
        return str(path.relative_to(self.run_dir))

    def epoch_end(self, trial: Any, epoch: int, total_epochs: int, logs: Mapping[str, Any]) -> bool:
        """Record one epoch; returns True when training should stop (the loss diverged, the time budget)."""
        live = self.trials[self.full_id(trial)]
        metrics = {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v) or np.ndim(v) == 0}
        self.tracker.log_epoch(live.trial_id, EpochMetrics(epoch, metrics, time.time()))
        if live.diverged_at is None and not math.isfinite(metrics.get("loss", 0.0)):
            live.diverged_at = epoch  # the trial fails: accuracy stays finite on NaN outputs, a score it is not
        live.history.append(metrics.get(self.cfg.search.objective))
        self.progress.epoch_end(epoch, total_epochs, metrics)
        return live.diverged_at is not None or self.budget_exhausted()

    def diverged(self, trial: Any) -> bool:
        live = self.trials.get(self.full_id(trial))
        return live is not None and live.diverged_at is not None

    def trial_end(self, trial: Any, kt_status: str) -> None:
        """Record a trial KerasTuner finished; ``kt_status`` is its status before the oracle's end_trial,
        which turns a crashed (INVALID) trial into FAILED when it will not be retried."""
        live = self.trials[self.full_id(trial)]
        state = _KT_STATES.get(kt_status, TrialState.FAILED)
        best = best_of(live.history, self.cfg.search.direction)
        if state is not TrialState.COMPLETED:
            live.error = error_line(trial.message)
            live.traceback_path = self._keep(trial.trial_id, "traceback.txt", trial.message or live.error)
        elif live.diverged_at is not None:  # FAILED for KerasTuner too (on_trial_end): both rank it nowhere
            state, live.error = TrialState.FAILED, (f"the loss was not finite at epoch {live.diverged_at}; lower the "
                                                    "learning rate or check the inputs for NaN")
        elif best is None:
            state, live.error = TrialState.FAILED, f"no finite {self.cfg.search.objective} was reported"
        completed = state is TrialState.COMPLETED
        live.objective = best[1] if completed else None
        extra = {"keras_tuner_status": kt_status, **live.resources(), **live.notes}
        extra.update({k: v for k, v in (("model_summary", live.summary_path), ("traceback", live.traceback_path)) if v})
        grown = dict(trial.hyperparameters.values)
        self.tracker.finish_trial(
            live.trial_id, state, ended_at=time.time(), objective=live.objective,
            best_epoch=live.first_epoch + best[0] if completed else None,
            trainable_params=live.params, error=live.error, extra=extra,
            # the build registers conditional hyperparameters the oracle did not know at the trial's begin
            hyperparameters=None if self.policy.keeps_hyperparameters or grown == live.hyperparameters else grown,
        )
        if live.hparams is not None:
            live.hparams.end(state, (self.cfg.search.objective, live.objective, live.first_epoch + best[0])
                             if completed else None)
        live.ended, self.current = True, None
        best_live = self.best()
        if self.prune_as_you_go and best_live is not None:
            candidates = {**self.policy.earlier, best_live.keras_trial_id: best_live.objective}
            keep = best_of(list(candidates.values()), self.cfg.search.direction)
            # the files to delete are chosen now (a later trial's checkpoint is never one), deleted by a thread
            prune_checkpoints(self.run_dir, {list(candidates)[keep[0]]}, background=True)
        self.progress.trial_end(live.trial_id, state.value, live.objective, best_live and best_live.objective)

    def abort_current(self, exc: BaseException) -> None:
        """Close a trial left RUNNING when the search stops: INTERRUPTED on Ctrl-C, FAILED otherwise."""
        live, self.current = self.current, None
        if live is None:
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        live.error = (str(exc) or "interrupted (Ctrl-C)") if interrupted else f"{type(exc).__name__}: {exc}"[:500]
        live.ended = True
        state = TrialState.INTERRUPTED if interrupted else TrialState.FAILED
        self.tracker.finish_trial(live.trial_id, state, ended_at=time.time(), error=live.error, extra=live.resources())
        if live.hparams is not None:
            with suppress(Exception):  # the search's own error is the one to report
                live.hparams.end(state)


def _epoch_recorder(hooks: TrialHooks, trial: Any, total_epochs: int) -> Any:
    """The Keras callback that reports a trial's fit to ``hooks`` and stops it at a batch end on a signal."""
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            hooks.fit_begin(trial, self.model)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if hooks.stop_requested is not None:  # Ctrl-C or SIGTERM, raised where Keras lets it through
                raise hooks.stop_requested

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if hooks.epoch_end(trial, epoch, total_epochs, logs or {}):
                self.model.stop_training = True

    return EpochRecorder()


def tracked_tuner(base: type, hooks: TrialHooks, abandon: frozenset[str] = frozenset()) -> type:
    """Subclass an AutoKeras tuner so that its life-cycle hooks report to ``hooks``, Hyperband can
    warm-start, and trials this machine cannot run are refused (``refusal``)."""
    from keras_tuner.errors import FailedTrialError

    from autosearch.tuning.kt_adapter import BuildOverride, save_build_config
    from autosearch.tuning.resume import ResumableTunerMixin

    class Tracked(ResumableTunerMixin, BuildOverride, base):  # type: ignore[misc, valid-type]
        def checked_build(self, hp: Any, build: Any) -> Any:
            try:
                model = build()
            except Exception as exc:
                reason = refusal(hp.values, exc)
                if reason:
                    raise FailedTrialError(reason) from exc
                raise
            reason = refusal(hp.values)
            if reason:
                raise FailedTrialError(reason)
            self._built_model = model
            return model

        def pre_create_trial(self) -> None:
            super().pre_create_trial()
            if hooks.budget_exhausted() and self.oracle.trials:
                self.oracle.max_trials = len(self.oracle.trials)  # the oracle stops here

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            hooks.trial_begin(trial)

        def around_fit(self, trial: Any, fit: Any, *args: Any, **kwargs: Any) -> Any:
            set_global_seed(hooks.seed_for(trial))
            kwargs["callbacks"] = hooks.fit_callbacks(trial, kwargs.get("callbacks", []),
                                                      kwargs.get("epochs", hooks.cfg.search.epochs))
            history = fit(*args, **kwargs)
            model = self.__dict__.pop("_built_model", None)
            if model is not None:  # so Hyperband can warm-start a later trial from this one
                save_build_config(self, trial.trial_id, model)
            return history

        def on_trial_end(self, trial: Any) -> None:
            status = str(getattr(trial.status, "value", trial.status))
            if hooks.diverged(trial):  # FAILED for KerasTuner too: its oracle must not rank the trial best
                trial.status = type(trial.status)("FAILED")
            try:
                super().on_trial_end(trial)  # scores the trial; may raise after too many consecutive failures
            finally:
                hooks.trial_end(trial, status)

    Tracked.abandon = abandon
    Tracked.__name__ = Tracked.__qualname__ = f"Tracked{base.__name__}"
    return Tracked


@contextmanager
def interruptible(hooks: TrialHooks) -> Iterator[None]:
    """Turn the first Ctrl-C (or SIGTERM) into an exception at the next batch end.

    A signal that lands inside TensorFlow's or KerasTuner's own code can be
    swallowed (e.g. in a weakref callback) and the search goes on; a flag
    checked by our callback is reliable. A second signal interrupts at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kinds = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}
    previous = {signum: signal.getsignal(signum) for signum in kinds}

    def handler(signum: int, frame: Any) -> None:
        hooks.stop_requested = kinds[signum]()
        for restore, old in previous.items():
            signal.signal(restore, old)

    for signum in kinds:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    if hooks.stop_requested is not None:
        raise hooks.stop_requested
