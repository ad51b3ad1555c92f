"""Run a tracked AutoKeras search.

The AutoKeras tuner is subclassed only to call ``TrialHooks`` from KerasTuner's
life-cycle hooks (``on_trial_begin``, ``on_trial_end``) and from a per-epoch
Keras callback; the hooks talk to a ``TrackerWriter`` and never to a concrete
backend. Everything that can reject user input runs before the tracker is
touched, so bad input leaves no trace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import math
import os
import secrets
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data import SplitData, load_dataset, split_dataset
from autosearch.data.convert import table_to_array
from autosearch.environment import environment
from autosearch.errors import SearchError
from autosearch.search.baselines import run_baselines
from autosearch.search.progress import Progress, SilentProgress
from autosearch.search.resources import ResourceSampler
from autosearch.search.spaces import get_space
from autosearch.tracking import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    TrackerWriter,
    TrialKind,
    TrialRecord,
    TrialState,
)

# KerasTuner marks a trial FAILED when it raises FailedTrialError, which it does
# for configurations it rejects (an oversized model): for us those are INVALID.
# Any other exception in a trial KerasTuner calls INVALID: for us, FAILED.
_KT_STATES = {"COMPLETED": TrialState.COMPLETED, "FAILED": TrialState.INVALID, "INVALID": TrialState.FAILED}


def new_run_id(now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: sortable by start time, unique by its random tail."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(2)


def trial_seed(run_seed: int, keras_trial_id: str) -> int:
    """A trial's seed, derived from the run seed and its KerasTuner id (stable across processes)."""
    digest = hashlib.sha256(f"{run_seed}:{keras_trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def set_global_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras (and so TensorFlow) at trial start."""
    import keras

    keras.utils.set_random_seed(seed)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info logs and two known-harmless Keras warnings.

    AutoKeras feeds a bare tensor to a one-input model ("structure of inputs"),
    and reloading a checkpoint skips optimizer state that is never needed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")


def prepare_data(cfg: PipelineConfig) -> SplitData:
    """Load and split the pipeline's data; raises ``DataError`` on bad input."""
    ds = load_dataset(cfg)
    return split_dataset(ds, cfg.split.validation, cfg.split.test, cfg.search.seed)


def best_of(values: list[float], direction: str) -> tuple[int, float] | None:
    """(index, value) of the best finite value, or None."""
    finite = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    pick = max if direction == "max" else min
    return pick(finite, key=lambda iv: iv[1])


@dataclass
class TrialHooks:
    """Bridges tuner life-cycle events to a tracker and a progress display."""

    tracker: TrackerWriter
    run_id: str
    cfg: PipelineConfig
    progress: Progress
    run_dir: Path
    started: float = field(default_factory=time.monotonic)
    current: str | None = None
    history: dict[str, list[float | None]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    results: dict[str, float | None] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)
    stop_requested: bool = False
    samplers: dict[str, ResourceSampler] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    # A reproduction runs one KerasTuner trial under another trial's id, seed and kind.
    as_trial: TrialRecord | None = None

    def full_id(self, trial: Any) -> str:
        return self.as_trial.trial_id if self.as_trial else f"{self.run_id}/{trial.trial_id}"

    def seed_for(self, trial: Any) -> int:
        if self.as_trial and self.as_trial.seed is not None:
            return self.as_trial.seed
        return trial_seed(self.cfg.search.seed, trial.trial_id)

    def budget_exhausted(self) -> bool:
        budget = self.cfg.search.time_budget
        return budget is not None and time.monotonic() - self.started >= budget

    def best_so_far(self) -> float | None:
        best = best_of(list(self.results.values()), self.cfg.search.direction)
        return None if best is None else best[1]

    def trial_begin(self, trial: Any) -> None:
        tid = self.full_id(trial)
        self.current = tid
        self.history[tid] = []
        record = TrialRecord(
            trial_id=tid, run_id=self.run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
            hyperparameters=dict(trial.hyperparameters.values), seed=self.seed_for(trial), started_at=time.time(),
        )
        if self.as_trial:
            record = dataclasses.replace(self.as_trial, state=TrialState.RUNNING, started_at=record.started_at)
        self.tracker.log_trial(record)
        self.samplers[tid] = ResourceSampler().start()
        self.progress.trial_begin(tid)

    def fit_begin(self, trial: Any, model: Any) -> None:
        tid = self.full_id(trial)
        self.params[tid] = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
        lines: list[str] = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line))
        path = self.run_dir / "trials" / trial.trial_id / "model_summary.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        self.summaries[tid] = str(path.relative_to(self.run_dir))

    def epoch_end(self, trial: Any, epoch: int, total_epochs: int, logs: Mapping[str, Any]) -> bool:
        """Record one epoch; returns True when the time budget says stop training."""
        tid = self.full_id(trial)
        metrics = {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v) or np.ndim(v) == 0}
        self.tracker.log_epoch(tid, EpochMetrics(epoch, metrics, time.time()))
        self.history[tid].append(metrics.get(self.cfg.search.objective))
        self.progress.epoch_end(epoch, total_epochs, metrics)
        return self.budget_exhausted()

    def trial_end(self, trial: Any, kt_status: str, first_epoch: int = 0) -> None:
        """Record a trial KerasTuner finished; ``kt_status`` is its status before the oracle's end_trial,
        which turns a crashed (INVALID) trial into FAILED when it will not be retried."""
        tid = self.full_id(trial)
        state = _KT_STATES.get(kt_status, TrialState.FAILED)
        best = best_of(self.history.get(tid, []), self.cfg.search.direction)
        error = None
        if state is not TrialState.COMPLETED:
            error = (trial.message or "").strip().splitlines()[-1:] or ["unknown error"]
            error = error[0]
        elif best is None:
            state, error = TrialState.FAILED, f"no finite {self.cfg.search.objective} was reported"
        objective = best[1] if best and state is TrialState.COMPLETED else None
        best_epoch = first_epoch + best[0] if best and state is TrialState.COMPLETED else None
        extra = {"keras_tuner_status": kt_status, **self._resources(tid)}
        if tid in self.summaries:
            extra["model_summary"] = self.summaries[tid]
        self.tracker.finish_trial(
            tid, state, ended_at=time.time(), objective=objective, best_epoch=best_epoch,
            trainable_params=self.params.get(tid), error=error, extra=extra,
        )
        self.results[tid] = objective
        self.errors[tid] = error
        self.current = None
        self.progress.trial_end(tid, state.value, objective, self.best_so_far())

    def _resources(self, tid: str) -> dict[str, float]:
        sampler = self.samplers.pop(tid, None)
        return sampler.stop() if sampler else {}

    def abort_current(self, exc: BaseException) -> None:
        """Close a trial left RUNNING when the search stops: INTERRUPTED on Ctrl-C, FAILED otherwise."""
        if self.current is not None:
            interrupted = isinstance(exc, KeyboardInterrupt)
            self.tracker.finish_trial(
                self.current, TrialState.INTERRUPTED if interrupted else TrialState.FAILED, ended_at=time.time(),
                error="interrupted (Ctrl-C)" if interrupted else f"{type(exc).__name__}: {exc}"[:500],
                extra=self._resources(self.current))
            self.current = None


def _tracked_tuner(base: type, hooks: TrialHooks) -> type:
    """Subclass an AutoKeras tuner so that its life-cycle hooks report to ``hooks``."""
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def __init__(self, trial: Any, total_epochs: int):
            super().__init__()
            self.trial, self.total_epochs = trial, total_epochs

        def on_train_begin(self, logs: Any = None) -> None:
            hooks.fit_begin(self.trial, self.model)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if hooks.stop_requested:  # Ctrl-C, raised where Keras lets it through
                raise KeyboardInterrupt

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if hooks.epoch_end(self.trial, epoch, self.total_epochs, logs or {}):
                self.model.stop_training = True

    class Tracked(base):  # type: ignore[misc, valid-type]
        def pre_create_trial(self) -> None:
            super().pre_create_trial()
            if hooks.budget_exhausted() and self.oracle.trials:
                self.oracle.max_trials = len(self.oracle.trials)  # the oracle stops here

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            hooks.trial_begin(trial)

        def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            set_global_seed(hooks.seed_for(trial))
            epochs = kwargs.get("epochs", hooks.cfg.search.epochs)
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), EpochRecorder(trial, epochs)]
            return super()._build_and_fit_model(trial, *args, **kwargs)

        def on_trial_end(self, trial: Any) -> None:
            status = str(getattr(trial.status, "value", trial.status))
            try:
                super().on_trial_end(trial)  # scores the trial; may raise after too many consecutive failures
            finally:
                hooks.trial_end(trial, status, int(trial.hyperparameters.values.get("tuner/initial_epoch", 0) or 0))

    Tracked.__name__ = Tracked.__qualname__ = f"Tracked{base.__name__}"
    return Tracked


@contextmanager
def _interruptible(hooks: TrialHooks) -> Iterator[None]:
    """Turn the first Ctrl-C into a KeyboardInterrupt at the next batch end.

    A SIGINT that lands inside TensorFlow's or KerasTuner's own code can be
    swallowed (e.g. in a weakref callback) and the search goes on; a flag
    checked by our callback is reliable. A second Ctrl-C interrupts at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        hooks.stop_requested = True
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hooks.stop_requested:
        raise KeyboardInterrupt


def log_baselines(tracker: TrackerWriter, run_id: str, cfg: PipelineConfig, split: SplitData,
                  progress: Progress) -> None:
    """Record reference models as ``baseline`` trials; their objective is their validation score
    when the pipeline's objective is that metric (``val_accuracy``, ``val_mean_absolute_error``)."""
    for result in run_baselines(split, cfg.search.seed):
        tid = f"{run_id}/baseline-{result.name}"
        now = time.time()
        tracker.log_trial(TrialRecord(trial_id=tid, run_id=run_id, kind=TrialKind.BASELINE,
                                      state=TrialState.RUNNING, hyperparameters={},
                                      seed=cfg.search.seed, started_at=now - result.seconds))
        objective = result.validation if cfg.search.objective == f"val_{result.metric}" else None
        tracker.finish_trial(tid, TrialState.COMPLETED, ended_at=now, objective=objective, extra={
            "model": result.description, "metric": result.metric, "validation": result.validation,
            "test": result.test})
        progress.message(f"baseline {result.name}: validation {result.metric} {result.validation:.4f}")


def _tuner_kwargs(cfg: PipelineConfig) -> dict[str, Any]:
    import keras_tuner

    from autosearch.search.blocks import tune

    space = cfg.space
    hps = keras_tuner.HyperParameters()
    # AutoKeras' graph asks for these two; registering them first makes ours win.
    tune(hps, "optimizer", space["optimizer"])
    tune(hps, "learning_rate", space["learning_rate"])
    kwargs: dict[str, Any] = {"hyperparameters": hps, "tune_new_entries": True, "allow_new_entries": True}
    if cfg.search.tuner == "hyperband":
        # AutoKeras leaves max_epochs at 1000; tie it to the pipeline's epochs and
        # let max_trials, not the bracket count, end the search.
        kwargs.update(max_epochs=cfg.search.epochs, factor=3, hyperband_iterations=cfg.search.max_trials)
    return kwargs


def _model_inputs(split: SplitData, part: str) -> Any:
    x = split.x(part)
    return table_to_array(x) if isinstance(x, pd.DataFrame) else x


def _model_targets(split: SplitData, part: str) -> np.ndarray:
    y = split.y(part)
    names = split.dataset.class_names
    return np.array(names, dtype=str)[y] if names is not None else y.astype("float32")


@dataclass(frozen=True)
class SearchResult:
    run_id: str
    run_dir: Path
    tracker_uri: str
    best_trial_id: str | None
    objective: str
    direction: str
    best_objective: float | None
    scores: Mapping[str, Any]  # metric, validation, test of the best model
    baseline: Mapping[str, Any]
    tensorboard_dir: Path
    duration: float
    n_trials: int
    bundle: Path | None = None


def _write_predictions(path: Path, split: SplitData, part: str, pred: np.ndarray, probs: np.ndarray | None) -> None:
    ds = split.dataset
    y = split.y(part)
    if ds.class_names is not None:
        names = np.array(ds.class_names, dtype=object)
        frame = pd.DataFrame({"row": split.indices[part], "y_true": names[y], "y_pred": names[pred]})
        for i, name in enumerate(ds.class_names):
            frame[f"p_{name}"] = probs[:, i]
    else:
        frame = pd.DataFrame({"row": split.indices[part], "y_true": y, "y_pred": pred})
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def evaluate_model(model: Any, pipeline: Any, manifest: Mapping[str, Any],
                   split: SplitData) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores on validation and test (accuracy or MAE) and the outputs behind them.

    Goes through the same raw-input path as a reloaded bundle
    (``model_outputs``), so search, export and serving agree.
    """
    from autosearch.export.predictor import model_outputs

    classification = manifest["problem"] == "classification"
    scores: dict[str, Any] = {"metric": "accuracy" if classification else "mean_absolute_error"}
    outputs = {}
    for part in ("validation", "test"):
        out = outputs[part] = model_outputs(model, pipeline, manifest, split.x(part))
        y = split.y(part)
        scores[part] = float(np.mean(out.argmax(axis=1) == y) if classification else np.mean(np.abs(out - y)))
    return scores, outputs


def _write_all_predictions(split: SplitData, outputs: Mapping[str, np.ndarray], run_dir: Path) -> None:
    pred_dir = run_dir / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for part, out in outputs.items():
        probs = out if out.ndim == 2 else None
        _write_predictions(pred_dir / f"{part}.csv", split, part, out.argmax(axis=1) if probs is not None else out, probs)


def input_schema(split: SplitData) -> dict[str, Any]:
    """What raw inputs a model of this data set takes (for bundles and predict)."""
    ds = split.dataset
    if ds.kind == "text":
        return {"kind": "text", "text_column": ds.source.get("text_column", "text")}
    if ds.kind == "image":
        return {"kind": "image", "image_shape": [int(d) for d in ds.x.shape[1:]]}
    return {"kind": "structured", "columns": list(ds.columns), "dtypes": {c: str(t) for c, t in ds.x.dtypes.items()}}


def bundle_manifest(cfg: PipelineConfig, split: SplitData, run_id: str, trial_id: str,
                    scores: Mapping[str, Any], objective: float | None) -> dict[str, Any]:
    return {
        "run_id": run_id, "trial_id": trial_id, "pipeline": cfg.name, "task": cfg.task, "kind": cfg.kind,
        "problem": cfg.problem, "input": input_schema(split),
        "class_names": list(split.dataset.class_names) if split.dataset.class_names else None,
        "objective": {"name": cfg.search.objective, "direction": cfg.search.direction, "value": objective},
        "scores": dict(scores), "data_fingerprint": split.fingerprint,
    }


def build_auto_model(cfg: PipelineConfig, split: SplitData, directory: Path, tuner: Any, overwrite: bool,
                     max_trials: int | None = None, tuner_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The AutoModel of a pipeline: one code path for searching, rebuilding and re-training trials."""
    import autokeras as ak

    node, head = get_space(cfg.search.space).build(cfg.space, cfg.problem, split.dataset.columns)
    return ak.AutoModel(
        inputs=node, outputs=head, project_name="autokeras", directory=str(directory),
        max_trials=max_trials or cfg.search.max_trials, tuner=tuner, overwrite=overwrite, seed=cfg.search.seed,
        objective=_objective(cfg), max_model_size=cfg.search.max_model_size,
        **(_tuner_kwargs(cfg) if tuner_kwargs is None else tuner_kwargs),
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
    (x, y), _ = auto_model._check_and_adapt(_model_inputs(split, "train"), _model_targets(split, "train"), None)
    auto_model._analyze_data((x, y))
    auto_model._build_hyper_pipeline()
    tuner = auto_model.tuner
    trial = tuner.oracle.get_trial(keras_trial_id)
    tuner._prepare_model_build(trial.hyperparameters, x=x, y=y)
    model = tuner.load_model(trial)
    return model, ak_pipeline.load_pipeline(tuner._pipeline_path(keras_trial_id))


def _fit(auto_model: Any, cfg: PipelineConfig, split: SplitData, epochs: int, callbacks: list,
         hooks: TrialHooks) -> None:
    """AutoModel.fit on the split, validation passed explicitly (never AutoKeras' validation_split)."""
    with _interruptible(hooks):
        auto_model.fit(
            _model_inputs(split, "train"), _model_targets(split, "train"),
            validation_data=(_model_inputs(split, "validation"), _model_targets(split, "validation")),
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
    tuner_cls = _tracked_tuner(ak.auto_model.get_tuner_class("greedy"), hooks)
    auto_model = build_auto_model(cfg, split, workdir, tuner_cls, overwrite=True, max_trials=1, tuner_kwargs={
        "hyperparameters": fixed_hyperparameters(record.hyperparameters), "tune_new_entries": False,
        "allow_new_entries": True})
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=cfg.search.objective, mode=cfg.search.direction, patience=epochs + 1),
        keras.callbacks.TensorBoard(log_dir=str(workdir / "tensorboard")),
    ]
    progress.search_begin(1, epochs, cfg.search.objective, None)
    try:
        _fit(auto_model, cfg, split, epochs, callbacks, hooks)
    except BaseException as exc:
        hooks.abort_current(exc)
        if isinstance(exc, Exception) and hooks.results.get(record.trial_id) is None:
            raise SearchError(f"the reproduction {record.trial_id} did not complete: "
                              f"{hooks.errors.get(record.trial_id) or f'{type(exc).__name__}: {exc}'}") from exc
        raise
    if hooks.results.get(record.trial_id) is None:
        raise SearchError(f"the reproduction {record.trial_id} did not complete: {hooks.errors.get(record.trial_id)}")
    return auto_model.tuner.get_best_model(), auto_model.tuner.get_best_pipeline()


def _objective(cfg: PipelineConfig) -> Any:
    import keras_tuner

    return keras_tuner.Objective(cfg.search.objective, cfg.search.direction)


def run_search(
    cfg: PipelineConfig,
    tracker: TrackerWriter,
    home: Path,
    progress: Progress | None = None,
    split: SplitData | None = None,
    export: bool = True,
) -> SearchResult:
    """Search ``cfg``'s space on its data, recording every trial in ``tracker``."""
    split = split or prepare_data(cfg)  # rejects bad input before anything is written
    progress = progress or SilentProgress()
    quiet_tensorflow()
    import autokeras as ak
    import keras

    run_id = new_run_id()
    run_dir = (Path(home) / "runs" / run_id).resolve()  # recorded absolute: commands may run elsewhere
    run_dir.mkdir(parents=True)
    t0 = time.monotonic()
    data_summary = split.summary()
    tracker.start_run(RunInfo(
        run_id=run_id, pipeline=cfg.name, task=cfg.task, dataset=split.dataset.name, seed=cfg.search.seed,
        started_at=time.time(), config={**cfg.to_dict(), "source": cfg.source}, data=data_summary,
        environment=environment(), summary={"run_dir": str(run_dir)},
    ))
    hooks = TrialHooks(tracker, run_id, cfg, progress, run_dir)
    status, best_trial_id, summary = RunStatus.FAILED, None, {}
    try:
        if cfg.search.baselines:
            log_baselines(tracker, run_id, cfg, split, progress)
        set_global_seed(cfg.search.seed)
        tuner_cls = _tracked_tuner(ak.auto_model.get_tuner_class(cfg.search.tuner), hooks)
        auto_model = build_auto_model(cfg, split, run_dir, tuner_cls, overwrite=True)
        patience = cfg.search.patience or cfg.search.epochs
        callbacks = [
            # Our own EarlyStopping keeps AutoKeras from retraining the best model
            # after the search (its final_fit), so the best model is the best trial.
            keras.callbacks.EarlyStopping(monitor=cfg.search.objective, mode=cfg.search.direction,
                                          patience=patience),
            keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
        ]
        progress.search_begin(cfg.search.max_trials, cfg.search.epochs, cfg.search.objective, cfg.search.time_budget)
        try:
            _fit(auto_model, cfg, split, cfg.search.epochs, callbacks, hooks)
        except Exception as exc:
            # With no completed trial AutoKeras fails looking for the best one, and
            # KerasTuner gives up after 3 consecutive failed trials: say why instead.
            errors = "; ".join(sorted(set(filter(None, hooks.errors.values()))))
            if best_of(list(hooks.results.values()), cfg.search.direction) is None:
                raise SearchError(
                    f"run {run_id}: no trial completed ({errors or f'{type(exc).__name__}: {exc}'})."
                ) from exc
            if "consecutive failures" in str(exc):
                raise SearchError(
                    f"run {run_id}: KerasTuner stopped the search after consecutive failed trials ({errors}); "
                    f"the completed ones are in 'autosearch leaderboard {run_id}'."
                ) from exc
            raise
        best = best_of(list(hooks.results.values()), cfg.search.direction)
        if best is None:
            raise SearchError(f"run {run_id}: no trial completed.")
        best_trial_id = list(hooks.results)[best[0]]
        model, pipeline = auto_model.tuner.get_best_model(), auto_model.tuner.get_best_pipeline()
        manifest = bundle_manifest(cfg, split, run_id, best_trial_id, {}, best[1])
        scores, outputs = evaluate_model(model, pipeline, manifest, split)
        _write_all_predictions(split, outputs, run_dir)
        summary = {"best_objective": best[1], "scores": scores}
        if export:
            from autosearch.export.bundle import write_bundle

            bundle = write_bundle(model, pipeline, run_dir / "export", {**manifest, "scores": scores},
                                  split.x("validation"))
            summary["bundle"] = str(bundle)
        status = RunStatus.COMPLETED
    except KeyboardInterrupt as exc:
        hooks.abort_current(exc)
        status = RunStatus.INTERRUPTED
        raise
    except BaseException as exc:
        hooks.abort_current(exc)
        summary = {"error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        summary["duration"] = time.monotonic() - t0
        tracker.finish_run(run_id, status, ended_at=time.time(), best_trial_id=best_trial_id, summary=summary)
    return SearchResult(
        run_id=run_id, run_dir=run_dir, tracker_uri=tracker.uri, best_trial_id=best_trial_id,
        objective=cfg.search.objective, direction=cfg.search.direction, best_objective=summary["best_objective"],
        scores=summary["scores"], baseline=data_summary["baseline"], tensorboard_dir=run_dir / "tensorboard",
        duration=summary["duration"], n_trials=len(hooks.results),
        bundle=Path(summary["bundle"]) if "bundle" in summary else None,
    )
