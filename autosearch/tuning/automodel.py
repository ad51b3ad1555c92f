"""Build, reload and fit the AutoKeras ``AutoModel`` of a pipeline: one code path for searching,
re-exporting and re-training a trial (``tuning.reproduction``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.data.convert import split_inputs, table_to_array
from autosearch.quiet import quiet_python_logs
from autosearch.spaces.graph import drawn_choices, input_layout
from autosearch.spaces.hp import tune
from autosearch.spaces.registry import get_space
from autosearch.tuning import kt_adapter as kt
from autosearch.tuning.checkpoints import PROJECT
from autosearch.tuning.first_values import fill_initial_values
from autosearch.tuning.hooks import TrialHooks, interruptible


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info logs, two known-harmless Keras warnings and KerasTuner's tracebacks.

    AutoKeras feeds a bare tensor to a one-input model ("structure of inputs"),
    and reloading a checkpoint skips optimizer state that is never needed. KerasTuner
    prints the traceback of every failed trial; the hooks record its last line and keep
    the whole of it in the trial's folder instead.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # "N out of the last N calls to <function> triggered tf.function retracing": scoring each trial's
    # model once (held-out outputs, ensembles, cross-validation) builds one predict function per model
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    kt.quiet_kerastuner()
    quiet_python_logs()  # Keras' absl warnings: the harmless ones dropped, the others shown once (autosearch.quiet)


def tensorboard(log_dir: Path) -> Any:
    """Keras' TensorBoard callback writing per-epoch summaries only (``kt_adapter.epoch_tensorboard``)."""
    return kt.epoch_tensorboard(log_dir)


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
    first = [] if cfg.graph else get_space(cfg.search.space).initial_trials(space)
    if first and cfg.search.tuner == "greedy":  # one trial per family first: the ensemble needs them all
        kwargs["initial_hps"] = first
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
    auto_model = ak.AutoModel(
        inputs=node, outputs=head, project_name=PROJECT, directory=str(directory),
        max_trials=max_trials or cfg.search.max_trials, tuner=tuner, overwrite=overwrite, seed=cfg.search.seed,
        objective=_objective(cfg), max_model_size=cfg.search.max_model_size,
        **(tuner_kwargs(cfg) if kwargs is None else kwargs),
    )
    fill_initial_values(auto_model.tuner.oracle)  # else KerasTuner fills a first trial's values unseeded
    return auto_model


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
    tuner = auto_model.tuner
    trial = tuner.oracle.get_trial(keras_trial_id)
    kt.prepare_trial_build(auto_model, model_inputs(split, "train", cfg), model_targets(split, "train"), trial)
    model = tuner.load_model(trial)
    return model, ak_pipeline.load_pipeline(kt.pipeline_path(tuner, keras_trial_id))


def fit(auto_model: Any, cfg: PipelineConfig, split: SplitData, epochs: int, callbacks: list,
        hooks: TrialHooks) -> None:
    """AutoModel.fit on the split, validation passed explicitly (never AutoKeras' validation_split)."""
    with interruptible(hooks):
        auto_model.fit(
            model_inputs(split, "train", cfg), model_targets(split, "train"),
            validation_data=(model_inputs(split, "validation", cfg), model_targets(split, "validation")),
            epochs=epochs, batch_size=cfg.search.batch_size, callbacks=callbacks, verbose=0,
        )