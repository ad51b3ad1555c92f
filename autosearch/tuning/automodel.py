"""Build, reload and fit the AutoKeras ``AutoModel`` of a pipeline: one code path for searching,
re-exporting and re-training a trial."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.data.convert import split_inputs, table_to_array
from autosearch.errors import SearchError
from autosearch.spaces.graph import drawn_choices, input_layout
from autosearch.spaces.hp import tune
from autosearch.spaces.registry import get_space
from autosearch.tracking import TrackerWriter, TrialRecord
from autosearch.tuning.checkpoints import PROJECT
from autosearch.tuning.hooks import TrialHooks, interruptible, tracked_tuner
from autosearch.tuning.progress import Progress, SilentProgress


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info logs, two known-harmless Keras warnings and KerasTuner's tracebacks.

    AutoKeras feeds a bare tensor to a one-input model ("structure of inputs"),
    and reloading a checkpoint skips optimizer state that is never needed. KerasTuner
    prints the traceback of every failed trial; the hooks record its last line and keep
    the whole of it in the trial's folder instead.
    """
    from keras_tuner.src import config as kt_config

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    kt_config.DEBUG = False


def tensorboard(log_dir: Path) -> Any:
    """Keras' TensorBoard callback, per-epoch summaries. Keras 3.12's calls ``tf.summary.scalar`` for every
    metric of every batch even with ``update_freq="epoch"``, where no writer records them: 0.5 ms of CPU a
    batch (measured; 2% of a text search) spent writing nothing. This one skips those calls, and only those."""
    import keras

    class EpochTensorBoard(keras.callbacks.TensorBoard):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self._should_trace or self.update_freq != "epoch" or self.write_steps_per_second:
                super().on_train_batch_end(batch, logs)
            elif self._should_write_train_graph:  # what Keras' method writes after the first batch
                self._write_keras_model_train_graph()
                self._should_write_train_graph = False

    return EpochTensorBoard(log_dir=str(log_dir))


def _objective(cfg: PipelineConfig) -> Any:
    import keras_tuner

    return keras_tuner.Objective(cfg.search.objective, cfg.search.direction)


def tuner_kwargs(cfg: PipelineConfig) -> dict[str, Any]:
    import keras_tuner


    space = cfg.space
    hps = keras_tuner.HyperParameters()
    # AutoKeras' graph asks for these two; registering them first makes ours win.
    tune(hps, "optimizer", space["optimizer"])
    tune(hps, "learning_rate", space["learning_rate"])
    for name, values in drawn_choices(cfg.graph).items():  # a graph's order of AutoKeras' own choices
        tune(hps, name, values)
    kwargs: dict[str, Any] = {"hyperparameters": hps, "tune_new_entries": True, "allow_new_entries": True}
    if cfg.search.tuner == "hyperband":
        # AutoKeras leaves max_epochs at 1000; tie it to the pipeline's epochs and
        # let max_trials, not the bracket count, end the search.
        kwargs.update(max_epochs=cfg.search.epochs, factor=3, hyperband_iterations=cfg.search.max_trials)
    return kwargs


def model_inputs(split: SplitData, part: str, cfg: PipelineConfig) -> Any:
    """A split part as the AutoModel takes it: one array, or one per input of a several-input graph."""
    x = split.x(part)
    layout = input_layout(cfg.graph)
    if layout:
        return split_inputs(x, layout)
    return table_to_array(x) if isinstance(x, pd.DataFrame) else x


def model_targets(split: SplitData, part: str) -> np.ndarray:
    y = split.y(part)
    names = split.dataset.class_names
    return np.array(names, dtype=str)[y] if names is not None else y.astype("float32")


def build_auto_model(cfg: PipelineConfig, split: SplitData, directory: Path, tuner: Any, overwrite: bool,
                     max_trials: int | None = None, kwargs: Mapping[str, Any] | None = None) -> Any:
    """The AutoModel of a pipeline in ``directory`` (its project is ``directory/autokeras``)."""
    import autokeras as ak

    if cfg.graph:
        from autosearch.spaces.graph_build import build_graph

        node, head = build_graph(cfg.graph, cfg.problem, split.dataset.columns)
    else:
        node, head = get_space(cfg.search.space).build(cfg.space, cfg.problem, split.dataset.columns)
    return ak.AutoModel(
        inputs=node, outputs=head, project_name=PROJECT, directory=str(directory),
        max_trials=max_trials or cfg.search.max_trials, tuner=tuner, overwrite=overwrite, seed=cfg.search.seed,
        objective=_objective(cfg), max_model_size=cfg.search.max_model_size,
        **(tuner_kwargs(cfg) if kwargs is None else kwargs),
    )


def load_trial_model(cfg: PipelineConfig, split: SplitData, run_dir: Path, keras_trial_id: str) -> tuple[Any, Any]:
    """(model with the trial's best-epoch weights, its fitted AutoKeras pipeline), from the run directory.

    Rebuilds the AutoModel as the search did and lets AutoKeras reload its
    project (overwrite=False); the graph needs the data's shapes, which
    AutoKeras only learns from the data (``_analyze_data``/``_prepare_model_build``).
    """
    quiet_tensorflow()
    import autokeras as ak
    from autokeras import pipeline as ak_pipeline

    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "Reloading Tuner from ..."
        auto_model = build_auto_model(cfg, split, run_dir, ak.auto_model.get_tuner_class(cfg.search.tuner), False)
    (x, y), _ = auto_model._check_and_adapt(model_inputs(split, "train", cfg), model_targets(split, "train"), None)
    auto_model._analyze_data((x, y))
    auto_model._build_hyper_pipeline()
    tuner = auto_model.tuner
    trial = tuner.oracle.get_trial(keras_trial_id)
    tuner._prepare_model_build(trial.hyperparameters, x=x, y=y)
    model = tuner.load_model(trial)
    return model, ak_pipeline.load_pipeline(tuner._pipeline_path(keras_trial_id))


def fit(auto_model: Any, cfg: PipelineConfig, split: SplitData, epochs: int, callbacks: list,
        hooks: TrialHooks) -> None:
    """AutoModel.fit on the split, validation passed explicitly (never AutoKeras' validation_split)."""
    with interruptible(hooks):
        auto_model.fit(
            model_inputs(split, "train", cfg), model_targets(split, "train"),
            validation_data=(model_inputs(split, "validation", cfg), model_targets(split, "validation")),
            epochs=epochs, batch_size=cfg.search.batch_size, callbacks=callbacks, verbose=0,
        )


def fixed_hyperparameters(values: Mapping[str, Any]) -> Any:
    """KerasTuner hyperparameters with every value fixed (KerasTuner's own ``tuner/*`` bookkeeping left out)."""
    import keras_tuner

    hps = keras_tuner.HyperParameters()
    for name, value in values.items():
        if not name.startswith("tuner/"):
            hps.Fixed(name, value)
    return hps


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
    (model, fitted AutoKeras pipeline).
    """
    quiet_tensorflow()
    import autokeras as ak
    import keras

    progress = progress or SilentProgress()
    hooks = TrialHooks(tracker, record.run_id, cfg, progress, workdir, as_trial=record)
    tuner_cls = tracked_tuner(ak.auto_model.get_tuner_class("greedy"), hooks)
    auto_model = build_auto_model(cfg, split, workdir, tuner_cls, overwrite=True, max_trials=1, kwargs={
        "hyperparameters": fixed_hyperparameters(record.hyperparameters), "tune_new_entries": False,
        "allow_new_entries": True})
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=cfg.search.objective, mode=cfg.search.direction, patience=epochs + 1),
        tensorboard(workdir / "tensorboard"),
    ]
    progress.search_begin(1, epochs, cfg.search.objective, None)

    def failure(exc: BaseException | None = None) -> SearchError:
        live = hooks.trials.get(record.trial_id)
        reason = (live and live.error) or (f"{type(exc).__name__}: {exc}" if exc else "no epoch was recorded")
        return SearchError(f"the reproduction {record.trial_id} did not complete: {reason}")

    try:
        fit(auto_model, cfg, split, epochs, callbacks, hooks)
    except BaseException as exc:
        hooks.abort_current(exc)
        live = hooks.trials.get(record.trial_id)
        if isinstance(exc, Exception) and (live is None or live.objective is None):
            raise failure(exc) from exc
        raise
    live = hooks.trials.get(record.trial_id)
    if live is None or live.objective is None:
        raise failure()
    return auto_model.tuner.get_best_model(), auto_model.tuner.get_best_pipeline()
