"""Every completed search trial's outputs on rows it was not trained on, kept for ensemble selection.

After the trials, each completed trial's best-epoch model (its KerasTuner checkpoint) is scored once on the
validation rows through ``export.outputs.model_outputs``, the path a bundle answers raw inputs by, and
kept in ``<run dir>/trials/<KerasTuner id>/heldout.npz``: ``outputs`` (class probabilities in the data
set's class order, or regression values), ``rows`` (the data set's row indices) and ``latency_ms`` (the
model's prediction time per row, a warm batched predict of those rows). Trials cross-validated on small data also have ``cv.npz`` (out-of-fold
outputs over train + validation, with each row's ``fold``), written by ``tuning.crossval``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.tracking import TrialRecord
from autosearch.tuning.checkpoints import PROJECT, checkpoint_path

HELDOUT = "heldout.npz"
TIMED_ROWS = 2048  # a trial's latency is timed on at least this many rows: a predict call's fixed cost amortised
CROSSVAL = "cv.npz"


def outputs_path(run_dir: Path, keras_trial_id: str, name: str = HELDOUT) -> Path:
    return Path(run_dir) / "trials" / keras_trial_id / name


def pipeline_file(run_dir: Path, keras_trial_id: str) -> Path:
    """The fitted AutoKeras preprocessing a trial was trained with (AutoKeras' ``Tuner._pipeline_path``)."""
    return Path(run_dir) / PROJECT / f"trial_{keras_trial_id}" / "pipeline"


def preprocessing_of(run_dir: Path, keras_trial_id: str) -> Any:
    """A trial's fitted preprocessing as JSON data (compared between trials), None when it is missing."""
    try:
        return json.loads(pipeline_file(run_dir, keras_trial_id).read_text())
    except (OSError, ValueError):
        return None


def is_linear(trial: TrialRecord) -> bool:
    """A trial of the linear family (``family = "linear"``, under any block's prefix)."""
    return any(k.rsplit("/", 1)[-1] == "family" and v == "linear" for k, v in trial.hyperparameters.items())


@dataclass(frozen=True)
class HeldOut:
    """One trial's outputs on the rows it was not trained on."""

    trial: TrialRecord
    outputs: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)
    latency_ms: float
    fold: np.ndarray | None = field(default=None, repr=False)  # out-of-fold outputs (cv.npz) only

    @property
    def keras_trial_id(self) -> str:
        return str(self.trial.keras_trial_id)


def read_outputs(run_dir: Path, trial: TrialRecord, name: str = HELDOUT) -> HeldOut | None:
    path = outputs_path(run_dir, str(trial.keras_trial_id), name)
    if not path.is_file():
        return None
    with np.load(path) as data:
        return HeldOut(trial, data["outputs"], data["rows"], float(data["latency_ms"]) if "latency_ms" in data
                       else 0.0, data["fold"] if "fold" in data else None)


def trial_models(cfg: PipelineConfig, split: SplitData, run_dir: Path,
                 keras_trial_ids: Sequence[str]) -> Iterator[tuple[str, Any, Any]]:
    """(KerasTuner id, best-epoch model, fitted pipeline) of each trial, one AutoModel rebuilt for all of
    them (``automodel.load_trial_model`` does the same for one)."""
    from autosearch.tuning import kt_adapter as kt
    from autosearch.tuning.automodel import build_auto_model, model_inputs, model_targets, quiet_tensorflow

    quiet_tensorflow()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # "triggered tf.function retracing": one model each
    import autokeras as ak
    from autokeras import pipeline as ak_pipeline

    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from ..."
        auto_model = build_auto_model(cfg, split, run_dir, ak.auto_model.get_tuner_class(cfg.search.tuner), False)
    tuner = auto_model.tuner
    x, y = model_inputs(split, "train", cfg), model_targets(split, "train")
    for keras_id in keras_trial_ids:
        trial = tuner.oracle.get_trial(keras_id)
        kt.prepare_trial_build(auto_model, x, y, trial)
        yield keras_id, tuner.load_model(trial), ak_pipeline.load_pipeline(kt.pipeline_path(tuner, keras_id))


def write_heldout(cfg: PipelineConfig, split: SplitData, run_dir: Path, trials: Sequence[TrialRecord],
                  score: Callable[[Any, Any, Any], np.ndarray]) -> list[HeldOut]:
    """Score each completed trial that has a checkpoint on the validation rows with ``score(model,
    pipeline, raw inputs)`` (the workflow passes ``export.outputs.model_outputs``: tuning does not import
    export); those already scored are read back, so a resumed run does not score them twice. The latency
    is timed on at least ``TIMED_ROWS`` rows (the validation rows repeated), warm. Returns them in
    ``trials``' order."""
    have = {t.trial_id: read_outputs(run_dir, t) for t in trials}
    todo = [t for t in trials if have[t.trial_id] is None
            and checkpoint_path(run_dir, str(t.keras_trial_id)).is_file()]
    by_keras = {str(t.keras_trial_id): t for t in todo}
    rows, raw = np.asarray(split.indices["validation"]), split.x("validation")
    timed = _repeated(raw, -(-TIMED_ROWS // max(1, len(rows))))
    for keras_id, model, pipeline in trial_models(cfg, split, run_dir, list(by_keras)) if by_keras else ():
        outputs = np.asarray(score(model, pipeline, raw))
        start = time.perf_counter()  # warm: the first call traced the model's graph
        score(model, pipeline, timed)
        latency = 1000.0 * (time.perf_counter() - start) / max(1, len(timed))
        _save(outputs_path(run_dir, keras_id), outputs=outputs, rows=rows, latency_ms=np.float64(latency))
        have[by_keras[keras_id].trial_id] = HeldOut(by_keras[keras_id], outputs, rows, latency)
    return [h for h in (have[t.trial_id] for t in trials) if h is not None]


def _save(path: Path, **arrays: np.ndarray) -> None:
    """``arrays`` in ``path`` (.npz), written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _repeated(raw: Any, times: int) -> Any:
    """Raw inputs (an array of texts or images, a table) repeated ``times`` times."""
    if times <= 1:
        return raw
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        return pd.concat([raw] * times, ignore_index=True)
    return np.concatenate([np.asarray(raw)] * times)
