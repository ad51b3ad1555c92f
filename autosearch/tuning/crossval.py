"""k-fold cross-validation of one completed trial on small data, through the one trial loop.

Below ``CV_BELOW_VALIDATION_ROWS`` validation rows, a holdout score cannot tell trials apart: on 93 rows one
row is 1.1 points and a model truly 2 points better is ranked below the worse one about a quarter of the time
(paired, 10% of rows disagreeing); on 500 rows 8%, on 1,066 (Rotten Tomatoes) 2%. Cross-validation over
train + validation scores every one of those rows instead. Each fold fit trains the trial's fixed
hyperparameters (``policy.ReproducePolicy``, the same loop as the search) for exactly the trial's recorded
best epoch count, with no early stopping and no best-epoch checkpoint on the fold being scored: a fold's
score and outputs are those of its last epoch (KerasTuner's shared best-epoch checkpoint would keep the
luckiest epoch). The fold fits are recorded in a scratch tracker of their own, deleted with their folder, so
they never appear as trials of the run; their out-of-fold outputs go to ``cv.npz`` in the trial's folder
(``outputs``, ``rows``: data set row indices of train + validation, ``fold``: each row's fold).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.data.impute import fill_values
from autosearch.errors import ConfigError
from autosearch.tracking import RunInfo, TrialRecord, get_tracker
from autosearch.tracking.selection import fold_se
from autosearch.tuning.policy import ReproducePolicy

FOLDS = 5
CV_BELOW_VALIDATION_ROWS = 500  # the measurement behind it: the module doc and the README
THRESHOLD_VARIABLE = "AUTOSEARCH_CV_BELOW_ROWS"  # sets another threshold; 0 turns cross-validation off
CROSSVAL = "cv.npz"
# (model, fitted pipeline, data set row indices) -> outputs in the data set's class order (or values); the
# workflow passes the bundle's raw-input path (export.outputs.model_outputs): tuning does not import export
Outputs = Callable[[Any, Any, np.ndarray], np.ndarray]


def cv_below_rows() -> int:
    """The validation rows below which trials are cross-validated: ``$AUTOSEARCH_CV_BELOW_ROWS`` when set
    (a whole number; 0 turns cross-validation off), else ``CV_BELOW_VALIDATION_ROWS``. Each trial records it."""
    value = os.environ.get(THRESHOLD_VARIABLE, "").strip()
    if not value:
        return CV_BELOW_VALIDATION_ROWS
    if not value.isdigit():
        raise ConfigError(f"{THRESHOLD_VARIABLE}={value!r} is not a whole number of validation rows; set it to "
                          f"0 (no cross-validation) or a row count such as {CV_BELOW_VALIDATION_ROWS}, or unset it.")
    return int(value)


def uses_cv(cfg: PipelineConfig, split: SplitData) -> bool:
    """Whether this run's trials are compared by cross-validation: few validation rows, and a tuner whose
    trials are whole trainings (Hyperband's continue earlier ones)."""
    return len(split.indices["validation"]) < cv_below_rows() and cfg.search.tuner != "hyperband"


def fold_splits(split: SplitData, k: int, seed: int) -> list[SplitData]:
    """k splits of train + validation, each holding one fold out as its validation part (stratified for
    classes); the test rows stay where they are and are never read."""
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = np.sort(np.concatenate([split.indices["train"], split.indices["validation"]]))
    y = split.dataset.y[rows]
    classes = split.dataset.class_names is not None
    k = min(k, int(np.bincount(y).min())) if classes else k
    folds = (StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, y) if classes
             else KFold(k, shuffle=True, random_state=seed).split(rows))
    out = []
    for train, held in folds:
        indices = {"train": rows[train], "validation": rows[held], "test": split.indices["test"]}
        fill = fill_values(split.dataset.x, rows[train], split.dataset.name) \
            if isinstance(split.dataset.x, pd.DataFrame) else None
        out.append(dataclasses.replace(split, indices=indices, fill=fill))
    return out


@dataclass(frozen=True)
class CrossValidation:
    """One trial's fold scores (its objective on each held-out fold) and what they cost."""

    scores: tuple[float, ...]
    val_losses: tuple[float, ...]
    epochs: int
    seconds: float
    outputs: np.ndarray | None = field(default=None, repr=False)  # out-of-fold, in ``rows`` order
    rows: np.ndarray | None = field(default=None, repr=False)
    fold: np.ndarray | None = field(default=None, repr=False)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    def record(self) -> dict[str, Any]:
        """What the trial's ``extra["selection"]["cv"]`` holds (``tracking.selection`` reads it)."""
        losses = [v for v in self.val_losses if np.isfinite(v)]
        return {"folds": len(self.scores), "scores": list(self.scores), "mean": self.mean,
                "se": fold_se(self.scores), "std": float(np.std(self.scores, ddof=1)) if len(self.scores) > 1 else 0.0,
                "val_losses": list(self.val_losses), "val_loss": float(np.mean(losses)) if losses else None,
                "epochs": self.epochs, "seconds": round(self.seconds, 2)}


class FoldPolicy(ReproducePolicy):
    """A reproduction whose last-epoch model is kept in memory (KerasTuner's checkpoint is the best epoch's)."""

    def __init__(self, as_trial: TrialRecord, n_epochs: int):
        super().__init__(as_trial=as_trial, n_epochs=n_epochs)
        self.models: list[Any] = []

    def tuner_class(self, tracked: type) -> type:
        models = self.models

        class LastEpoch(tracked):  # type: ignore[misc, valid-type]
            def checked_build(self, hp: Any, build: Any) -> Any:
                model = super().checked_build(hp, build)
                models.append(model)  # trained in place: after the fit it holds the last epoch's weights
                return model

        return LastEpoch


def cross_validate(cfg: PipelineConfig, split: SplitData, trial: TrialRecord, epochs: int, workdir: Path,
                   outputs: Outputs | None = None, k: int = FOLDS) -> CrossValidation:
    """Fit ``trial`` (its hyperparameters and seed) on each of ``k`` folds of train + validation for ``epochs``
    epochs; its fold scores, and with ``outputs`` its out-of-fold outputs. ``workdir`` is made and removed."""
    from autosearch.tuning.progress import SilentProgress
    from autosearch.tuning.trial_loop import LoopSetup, TrialLoop

    start, scores, losses, parts = time.monotonic(), [], [], []
    workdir.mkdir(parents=True, exist_ok=False)
    try:
        for i, fold in enumerate(fold_splits(split, k, cfg.search.seed)):
            fold_dir = workdir / f"fold{i}"
            fold_dir.mkdir()
            tracker = get_tracker(f"sqlite:///{fold_dir / 'folds.db'}")
            try:
                tracker.start_run(RunInfo(run_id=trial.run_id, pipeline=cfg.name, task=cfg.task,
                                          dataset=split.dataset.name, seed=cfg.search.seed, started_at=time.time()))
                policy = FoldPolicy(trial, epochs)
                loop = TrialLoop(LoopSetup(cfg, tracker, trial.run_id, fold_dir, fold, SilentProgress()), policy)
                auto_model = loop.run()
                last = tracker.get_trial(trial.trial_id).epochs[-1].metrics
            finally:
                tracker.close()
            scores.append(float(last[cfg.search.objective]))
            losses.append(float(last.get("val_loss", float("nan"))))
            if outputs is not None and policy.models:
                held = fold.indices["validation"]
                parts.append((held, i, outputs(policy.models[-1], auto_model.tuner.get_best_pipeline(), held)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the fold fits' projects and scratch tracker: ours
    result = CrossValidation(tuple(scores), tuple(losses), epochs, time.monotonic() - start)
    if parts:
        rows = np.concatenate([p[0] for p in parts])
        order = np.argsort(rows, kind="stable")
        fold_of = np.concatenate([np.full(len(p[0]), p[1]) for p in parts])
        result = dataclasses.replace(result, rows=rows[order], fold=fold_of[order],
                                     outputs=np.concatenate([p[2] for p in parts])[order])
    return result


def save_outputs(result: CrossValidation, path: Path) -> None:
    """The out-of-fold outputs in ``path`` (``cv.npz``), written whole or not at all."""
    if result.outputs is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, outputs=result.outputs, rows=result.rows, fold=result.fold)
    os.replace(tmp, path)
