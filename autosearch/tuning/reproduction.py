"""Train one recorded trial again, through the search's own trial loop (``tuning.trial_loop``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.errors import SearchError
from autosearch.tracking import TrackerWriter, TrialRecord
from autosearch.tuning.policy import ReproducePolicy
from autosearch.tuning.progress import Progress, SilentProgress
from autosearch.tuning.trial_loop import LoopSetup, TrialLoop


def train_trial_again(
    cfg: PipelineConfig,
    split: SplitData,
    tracker: TrackerWriter,
    record: TrialRecord,
    epochs: int,
    workdir: Path,
    progress: Progress | None = None,
) -> tuple[Any, Any]:
    """Train one model from ``record``'s hyperparameters and seed, through the search's own code path.

    The trial is recorded in ``tracker`` as ``record`` (its id, kind and links),
    with per-epoch metrics, and trains exactly ``epochs`` epochs. Returns the
    (model, fitted AutoKeras pipeline). A held tracker lock costs no record: they wait in the journal of
    ``workdir`` and are all written before this returns.
    """
    loop = TrialLoop(LoopSetup(cfg, tracker, record.run_id, workdir, split, progress or SilentProgress()),
                     ReproducePolicy(as_trial=record, n_epochs=epochs))

    def failure(exc: BaseException | None = None) -> SearchError:
        live = loop.hooks.trials.get(record.trial_id)
        reason = (live and live.error) or (f"{type(exc).__name__}: {exc}" if exc else "no epoch was recorded")
        return SearchError(f"the reproduction {record.trial_id} did not complete: {reason}")

    try:
        auto_model = loop.run()
    except Exception as exc:
        live = loop.hooks.trials.get(record.trial_id)
        if live is None or live.objective is None:
            raise failure(exc) from exc
        raise
    live = loop.hooks.trials.get(record.trial_id)
    if live is None or live.objective is None:
        raise failure()
    return auto_model.tuner.get_best_model(), auto_model.tuner.get_best_pipeline()
