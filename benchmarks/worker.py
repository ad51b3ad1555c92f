"""Child-process entry points: everything that imports TensorFlow runs here, one process per sample.

    python -m benchmarks.worker search OUT.json [--profile PROF] -- <autosearch search arguments>
    python -m benchmarks.worker bare OUT.json PIPELINE WORKDIR OVERRIDES_JSON
    python -m benchmarks.worker serve OUT.json BUNDLE ROUNDS [H5_BUNDLE]
    python -m benchmarks.worker coldload OUT.json BUNDLE FORMAT bundle|bare
    python -m benchmarks.worker akdefaults OUT.json WORKDIR

``search`` is the real command (``autosearch.cli.main``) with timers wrapped around its phases and
hooks; a timer costs about a microsecond. ``bare`` trains the same AutoModel with AutoKeras alone.
Each writes what it measured to OUT.json.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()


def _write(out: str, data: dict[str, Any]) -> None:
    Path(out).write_text(json.dumps(data, default=str))


class Timers:
    """Wall time per call of wrapped functions, by label."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.missing: list[str] = []

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        original = getattr(owner, name, None)
        if original is None:  # the code moved: report it instead of failing the whole benchmark
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return
        calls = self.calls[label or name]
        cpu = self.calls[f"{label or name}.cpu"]

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)

        setattr(owner, name, timed)


# -- autosearch search, timed by phase -----------------------------------------------------------------------
def search(out: str, argv: list[str]) -> int:
    profile = None
    if argv and argv[0] == "--profile":
        profile, argv = argv[1], argv[2:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    t_import = time.perf_counter()
    import autosearch.workflows.search as workflow
    from autosearch import cli
    from autosearch.cli import search as cli_search
    from autosearch.export import bundle, evaluate
    from autosearch.tuning import hooks, runner

    timers = Timers()
    timers.wrap(runner, "fit", "search")  # AutoModel.fit: the search phase
    timers.wrap(runner, "log_baselines", "baselines")
    timers.wrap(evaluate, "score_model", "score")
    timers.wrap(evaluate, "write_predictions", "predictions")
    timers.wrap(bundle, "write_bundle", "bundle")
    timers.wrap(workflow, "_write_run_report", "report")
    timers.wrap(cli_search, "print_outcome", "print_outcome")
    for name in ("trial_begin", "fit_begin", "epoch_end", "trial_end"):
        timers.wrap(hooks.TrialHooks, name, f"hook.{name}")
    if any(a.startswith("clearml") for a in argv):
        import autosearch.tracking.clearml as clearml_tracker

        for name in ("start_run", "log_trial", "log_epoch", "finish_trial", "finish_run", "log_artifact", "close"):
            timers.wrap(clearml_tracker.ClearMLTracker, name, f"clearml.{name}")
    t_main = time.perf_counter()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        code = profiler.runcall(cli.main, ["search", *argv])
        profiler.dump_stats(profile)
    else:
        code = cli.main(["search", *argv])
    t_end = time.perf_counter()
    _write(out, {"code": code, "calls": timers.calls, "missing": timers.missing, "import_s": t_main - t_import,
                 "main_s": t_end - t_main, "process_s": t_end - _T0})
    return code


# -- the same search with AutoKeras alone -------------------------------------------------------------------
def bare(out: str, pipeline: str, workdir: str, overrides_json: str) -> int:
    """The AutoModel autosearch builds (same space, split, seeds, EarlyStopping, validation_data), fitted
    with no hooks, callbacks, tracker or baselines; then the best model is scored on test, as a search does.

    Seeding is the one thing kept from autosearch: each trial starts from the same derived seed
    (``trial_seed``), else the trials would train different models for a different number of epochs and
    the times would not compare.
    """
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data
    from autosearch.tuning import automodel
    from autosearch.tuning.hooks import set_global_seed, trial_seed
    from autosearch.workflows.search import fit_settings

    cfg = load_pipeline(pipeline, json.loads(overrides_json))
    split = prepare_data(cfg)
    cfg, _ = fit_settings(cfg, split)  # the space's "auto" settings, as the search fits them
    automodel.quiet_tensorflow()
    import autokeras as ak
    import keras

    epochs_trained: dict[str, int] = {}

    base = ak.auto_model.get_tuner_class(cfg.search.tuner)

    class Seeded(base):  # type: ignore[misc, valid-type]
        def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            keras.utils.set_random_seed(trial_seed(cfg.search.seed, trial.trial_id))
            history = super()._build_and_fit_model(trial, *args, **kwargs)
            epochs_trained[trial.trial_id] = len(history.history.get("loss", []))
            return history

    set_global_seed(cfg.search.seed)
    auto_model = automodel.build_auto_model(cfg, split, Path(workdir), Seeded, overwrite=True)
    callbacks = [keras.callbacks.EarlyStopping(monitor=cfg.search.objective, mode=cfg.search.direction,
                                               patience=cfg.search.patience or cfg.search.epochs)]
    # the inputs and fit arguments of autosearch's fit(), without its hooks
    inputs, targets = automodel.model_inputs, automodel.model_targets
    takes_cfg = "cfg" in inspect.signature(inputs).parameters

    def x(part: str) -> Any:
        return inputs(split, part, cfg) if takes_cfg else inputs(split, part)

    t, c = time.perf_counter(), time.process_time()
    auto_model.fit(x("train"), targets(split, "train"), validation_data=(x("validation"), targets(split, "validation")),
                   epochs=cfg.search.epochs, batch_size=cfg.search.batch_size, callbacks=callbacks, verbose=0)
    search_s, search_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    test = auto_model.evaluate(x("test"), targets(split, "test"), verbose=0)
    score_s = time.perf_counter() - t
    trials = {tid: {"hyperparameters": {k: v for k, v in tr.hyperparameters.values.items()
                                        if not k.startswith("tuner/")},
                    "objective": tr.score, "epochs": epochs_trained.get(tid), "status": str(tr.status)}
              for tid, tr in auto_model.tuner.oracle.trials.items()}
    _write(out, {"calls": {"search": [search_s], "search.cpu": [search_cpu], "score": [score_s]}, "trials": trials,
                 "test": [float(v) for v in (test if isinstance(test, list) else [test])],
                 "process_s": time.perf_counter() - _T0})
    return 0


# -- serving: bundle on raw text vs the bare model on tokenized input ---------------------------------------
def _bare_callable(bundle: Path, fmt: str, manifest: dict[str, Any]) -> Callable[[Any], Any]:
    """predict on already tokenized input, as the model alone serves it."""
    from autosearch.export.predictor import custom_objects

    target = bundle / manifest["formats"][fmt]
    if fmt == "saved_model":
        import tensorflow as tf

        model = tf.saved_model.load(str(target))
        dtype = manifest["model_input"]["dtype"]
        return lambda x: model.serve([tf.constant(x, dtype=dtype)]).numpy()
    import keras

    model = keras.models.load_model(target, custom_objects=custom_objects(), compile=False)
    return model.predict_on_batch  # one step, as the bundle serves it: Keras' predict() adds 55 ms a call


def _rows_per_s(fn: Callable[[Any], Any], batches: list[Any]) -> float:
    t = time.perf_counter()
    for batch in batches:
        fn(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - t)


def serve(out: str, bundle_path: str, rounds: str, h5_path: str | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    from autokeras import pipeline as ak_pipeline

    import autosearch
    from autosearch.data.convert import texts_to_array
    from autosearch.data.embedded import load_rotten_tomatoes
    from autosearch.export.format import read_manifest
    from autosearch.export.predictor import custom_objects

    texts = [str(t) for t in load_rotten_tomatoes()[0].tolist()]
    n_rounds = int(rounds)
    bundles = [(Path(bundle_path), f) for f in ("keras", "saved_model")]
    if h5_path:
        bundles.append((Path(h5_path), "h5"))
    results: dict[str, Any] = {}
    for path, fmt in bundles:
        manifest = read_manifest(path)
        if fmt not in manifest.get("formats", {}):
            results[fmt] = {"skipped": f"no {fmt} model in {path}"}
            continue
        predictor = autosearch.load(path, format=fmt)
        pipeline = ak_pipeline.load_pipeline(str(path / manifest["preprocessing"]), custom_objects=custom_objects())
        bare = _bare_callable(path, fmt, manifest)
        tokenized = pipeline.transform_x(texts_to_array(texts))
        tokenized = np.asarray(tokenized)
        fmt_out: dict[str, Any] = {}
        for batch, calls in ((256, 16), (1, 40)):
            starts = [(i * batch * 7) % (len(texts) - batch) for i in range(calls)]  # spread over the data
            raw_batches = [texts[s : s + batch] for s in starts]
            token_batches = [tokenized[s : s + batch] for s in starts]
            predictor.predict(raw_batches[0])
            bare(token_batches[0])  # warm-up: traces the functions for this batch shape
            samples: dict[str, list[float]] = {"bundle": [], "bare": []}
            order = [("bundle", predictor.predict, raw_batches), ("bare", bare, token_batches)]
            for r in range(n_rounds):  # A B, B A, A B ...
                for name, fn, batches in order if r % 2 == 0 else reversed(order):
                    samples[name].append(_rows_per_s(fn, batches))
            fmt_out[f"batch{batch}"] = samples
        results[fmt] = fmt_out
    _write(out, {"formats": results, "rows": len(texts)})
    return 0


def coldload(out: str, bundle_path: str, fmt: str, mode: str) -> int:
    """Seconds to load one format after TensorFlow, Keras and AutoKeras are imported: through the bundle
    (checksums, preprocessing, model) or the model file alone."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    import autokeras  # noqa: F401
    import keras
    import tensorflow as tf

    import autosearch
    from autosearch.export.format import read_manifest
    from autosearch.export.predictor import custom_objects

    objects = custom_objects()
    t1 = time.perf_counter()
    path = Path(bundle_path)
    if mode == "bundle":
        autosearch.load(path, format=fmt)
    else:
        target = path / read_manifest(path)["formats"][fmt]
        if fmt == "saved_model":
            tf.saved_model.load(str(target))
        else:
            keras.models.load_model(target, custom_objects=objects, compile=False)
    t2 = time.perf_counter()
    _write(out, {"import_s": t1 - t0, "load_s": t2 - t1})
    return 0


def akdefaults(out: str, workdir: str) -> int:
    """AutoKeras' own TextClassifier with its defaults on the text pipeline's split (3 trials x 10 epochs):
    the measurement behind the README's first AutoKeras workaround."""
    import numpy as np

    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data
    from autosearch.tuning.automodel import quiet_tensorflow

    split = prepare_data(load_pipeline("text"))
    quiet_tensorflow()
    import autokeras as ak

    names = np.array(split.dataset.class_names)
    clf = ak.TextClassifier(max_trials=3, directory=workdir, overwrite=True, seed=0)
    t = time.perf_counter()
    clf.fit(split.x("train"), names[split.y("train")], epochs=10, verbose=0,
            validation_data=(split.x("validation"), names[split.y("validation")]))
    took = time.perf_counter() - t
    pred = np.asarray(clf.predict(split.x("test"), verbose=0)).reshape(-1)
    _write(out, {"test": float(np.mean(pred == names[split.y("test")])), "search_s": took,
                 "majority_test": split.summary()["baseline"]["test"]})
    return 0


def main(argv: list[str]) -> int:
    mode, out, *rest = argv
    if mode == "search":
        return search(out, rest)
    return {"bare": bare, "serve": serve, "coldload": coldload, "akdefaults": akdefaults}[mode](out, *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
