"""The one trial loop of a local search, a resumed one, a distributed worker and a reproduction.

``TrialLoop(setup, policy).run()`` does, for every driver, in this order::

    journal the tracker  ->  before(writer)  ->  tracked tuner class  ->  AutoModel  ->  fit  ->  settle
    (policy.journal_dir)    (baselines)         (policy.tuner_class)    (policy.overwrite,     (the journal
                                                                          model_args)           drains)

and on any error closes the trial left running (INTERRUPTED on Ctrl-C, FAILED otherwise) after asking
``policy.translate`` what the error means. What differs between the drivers is the ``TrialPolicy``
(``tuning.policy``), never a branch here. The chief trains nothing and does not run this loop: it hosts
the oracle (``tuning.distributed``) and shares ``callbacks``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.tracking import TrackerWriter
from autosearch.tracking.journal import JOURNAL, JournalledWriter
from autosearch.tuning.automodel import build_auto_model, fit, quiet_tensorflow, tensorboard
from autosearch.tuning.kt_adapter import check_versions
from autosearch.tuning.hooks import TrialHooks, set_global_seed, tracked_tuner
from autosearch.tuning.policy import TrialPolicy
from autosearch.tuning.progress import Progress


@dataclass(frozen=True)
class LoopSetup:
    """Where the trials train and are recorded."""

    cfg: PipelineConfig
    tracker: TrackerWriter
    run_id: str
    run_dir: Path  # the AutoKeras project's parent, the trials' folders and the TensorBoard logs
    split: SplitData
    progress: Progress


def callbacks(cfg: PipelineConfig, patience: int, run_dir: Path) -> list:
    """The Keras callbacks every fit of a search gets."""
    import keras

    # Our own EarlyStopping keeps AutoKeras from retraining the best model after the search (its final_fit),
    # so the best model is the best trial.
    return [keras.callbacks.EarlyStopping(monitor=cfg.search.objective, mode=cfg.search.direction, patience=patience),
            tensorboard(run_dir / "tensorboard")]


class TrialLoop:
    """Train and record the trials ``policy`` asks for (see the module doc); ``hooks`` holds what they did."""

    def __init__(self, setup: LoopSetup, policy: TrialPolicy):
        from autosearch.tuning.resume import install_atomic_json

        check_versions()
        quiet_tensorflow()
        install_atomic_json()  # a kill mid-write leaves KerasTuner's JSON files old or new, never half
        self.setup, self.policy = setup, policy
        journal = policy.journal_dir(setup.run_dir)
        journal.mkdir(parents=True, exist_ok=True)
        self.writer = JournalledWriter(setup.tracker, journal / JOURNAL, setup.run_id)
        self.hooks = TrialHooks(self.writer, setup.run_id, setup.cfg, setup.progress, setup.run_dir,
                                started=time.monotonic() - policy.elapsed, policy=policy)
        self.auto_model: Any = None

    def run(self, before: Callable[[TrackerWriter], None] | None = None) -> Any:
        """Fit the AutoModel (after ``before(writer)``); the AutoModel. A held tracker lock costs no trial:
        its records wait in the journal, all written before this returns."""
        import autokeras as ak

        setup, policy, hooks = self.setup, self.policy, self.hooks
        cfg = setup.cfg
        try:
            if before is not None:
                before(self.writer)
            set_global_seed(cfg.search.seed)
            tracked = tracked_tuner(ak.auto_model.get_tuner_class(policy.tuner_name(cfg)), hooks, policy.abandon)
            self.auto_model = build_auto_model(cfg, setup.split, setup.run_dir, policy.tuner_class(tracked),
                                               overwrite=policy.overwrite, **policy.model_args(cfg))
            epochs = policy.epochs(cfg)
            max_trials, budget = policy.announced(cfg)
            setup.progress.search_begin(max_trials, epochs, cfg.search.objective, budget)
            self._fit(epochs)
            self.writer.settle()  # the caller reads the trials back
            return self.auto_model
        except BaseException as exc:
            hooks.abort_current(exc)
            with contextlib.suppress(Exception):  # the search's own error is the one to report, without delay
                self.writer.settle(timeout=5.0)
            self.writer.close()  # what the lock still holds back stays journalled, for resume
            raise

    def _fit(self, epochs: int) -> None:
        setup = self.setup
        try:
            fit(self.auto_model, setup.cfg, setup.split, epochs,
                callbacks(setup.cfg, self.policy.patience(setup.cfg), setup.run_dir), self.hooks)
        except BaseException as exc:
            meant = self.policy.translate(exc, self.hooks)
            if meant is exc:
                raise
            if meant is not None:
                raise meant  # its cause (or none) set by the policy
