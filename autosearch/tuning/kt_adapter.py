"""Every use of KerasTuner's, AutoKeras' and Keras' private names, in one place, and the versions they fit.

The rest of ``autosearch.tuning`` calls these functions and classes instead of reaching for an
underscored attribute or a ``keras_tuner.src`` module; a new KerasTuner, AutoKeras or Keras is ported
here. ``check_versions`` (called once as a search starts, ``tuning.trial_loop`` and the chief) refuses
any other release line than the one this was written against, with one line naming both.
"""

from __future__ import annotations

import collections
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from autosearch.errors import UnsupportedVersionError

# package -> (release line it was written against, the version it was checked with)
SUPPORTED = {"keras-tuner": ("1.4", "1.4.8"), "autokeras": ("3.0", "3.0.0"), "keras": ("3.12", "3.12.4")}


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_versions(installed: Callable[[str], str | None] = installed_version) -> None:
    """Raise ``UnsupportedVersionError`` unless each package's installed release is in ``SUPPORTED``."""
    for package, (line, checked) in SUPPORTED.items():
        version = installed(package)
        if version is None or not (version == line or version.startswith(line + ".")):
            raise UnsupportedVersionError(
                f"{package} {version or '(not installed)'} is installed, but autosearch's KerasTuner adapter "
                f"(autosearch/tuning/kt_adapter.py) supports {package} {line}.x (checked with {checked}); "
                f"install it: pip install '{package}=={line}.*'.")


# ---------------------------------------------------------------- KerasTuner modules and settings

def trial_status() -> Any:
    from keras_tuner.src.engine.trial import TrialStatus

    return TrialStatus


def new_trial(hyperparameters: Any, trial_id: str, status: Any) -> Any:
    from keras_tuner.src.engine.trial import Trial

    return Trial(hyperparameters, trial_id=trial_id, status=status)


def load_trial(path: Path) -> Any:
    from keras_tuner.src.engine.trial import Trial

    return Trial.load(str(path))


def new_metrics() -> Any:
    from keras_tuner.src.engine import metrics_tracking

    return metrics_tracking.MetricsTracker()


def quiet_kerastuner() -> None:
    """KerasTuner prints the traceback of every failed trial (and of every call a closed channel ends)."""
    from keras_tuner.src import config

    config.DEBUG = False


def save_json(path: Any, obj: Any) -> str:
    from keras_tuner.src import utils

    return utils.save_json(path, obj)


def load_json(path: Any) -> Any:
    from keras_tuner.src import utils

    return utils.load_json(path)


def wrap_save_json(wrap: Callable[[Callable[[Any, Any], str]], Callable[[Any, Any], str]]) -> None:
    """Replace KerasTuner's JSON writer (every oracle, trial and tuner file) by ``wrap(original)``, once."""
    from keras_tuner.src import utils

    if not getattr(utils.save_json, "wrapped", False):
        utils.save_json = wrap(utils.save_json)
        utils.save_json.wrapped = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- an Oracle's private state

def save_trial(oracle: Any, trial: Any) -> None:
    oracle._save_trial(trial)


def run_times(oracle: Any) -> dict[str, int]:
    return oracle._run_times


def retry_queue(oracle: Any) -> list[str]:
    return oracle._retry_queue


def set_queues(oracle: Any, end_order: list[str], retry: list[str], start_order: list[str]) -> None:
    oracle.end_order, oracle._retry_queue, oracle.start_order = end_order, retry, start_order
    oracle.ongoing_trials = {}


def reindex(oracle: Any, trials_in_order: list[Any]) -> None:
    """Rebuild the oracle's run counts (of the trials kept) and its index of the values tried."""
    oracle._run_times = collections.defaultdict(lambda: 0, {k: v for k, v in oracle._run_times.items()
                                                            if k in oracle.trials})
    oracle._tried_so_far = set()
    oracle._id_to_hash = collections.defaultdict(lambda: None)
    for trial in trials_in_order:
        oracle._record_values(trial)


def seed_past(oracle: Any, trials_in_order: list[Any]) -> None:
    """Random draws use seeds seed_state, seed_state+1, ...: start past any seed the trials used, so a
    resumed search does not replay the old draws (duplicates would be refused anyway)."""
    used = sum(len(t.hyperparameters.space) + 1 for t in trials_in_order) * (oracle._max_collisions + 1)
    oracle._seed_state = oracle.seed + used


def mark_initial_hps_tried(oracle: Any, n_trials: int) -> None:
    """AutoKeras' GreedyOracle: its first trials used its ``initial_hps``."""
    if hasattr(oracle, "_tried_initial_hps"):
        oracle._tried_initial_hps = [i < n_trials for i in range(len(oracle.initial_hps))]


def is_hyperband(oracle: Any) -> bool:
    return hasattr(oracle, "_brackets")


def brackets(oracle: Any) -> list[dict]:
    return getattr(oracle, "_brackets", [])


def bracket_sizes(oracle: Any) -> tuple[int, Callable[[int, int], int]]:
    """(number of brackets, size(bracket, round)) of a HyperbandOracle."""
    return oracle._get_num_brackets(), oracle._get_size


def set_brackets(oracle: Any, value: list[dict], current: int, iteration: int) -> None:
    oracle._brackets, oracle._current_bracket, oracle._current_iteration = value, current, iteration


def requeue(oracle: Any, trial: Any) -> None:
    """KerasTuner's retry path: the next tuner that asks re-runs ``trial`` (same id and hyperparameters)."""
    trial.status = trial_status().INVALID
    oracle._retry_queue.append(trial.trial_id)
    oracle._save_trial(trial)
    oracle.save()


class oracle_lock:
    """KerasTuner's per-oracle lock (``@synchronized``), re-entrant for the thread that holds it."""

    def __init__(self, oracle: Any):
        from keras_tuner.src.engine import oracle as oracle_module

        self.oracle, self.module, self.acquired = oracle, oracle_module, False

    def __enter__(self) -> None:
        name = threading.current_thread().name
        if self.module.THREADS[self.oracle] != name:
            self.module.LOCKS[self.oracle].acquire()
            self.module.THREADS[self.oracle] = name
            self.acquired = True

    def __exit__(self, *exc: object) -> None:
        if self.acquired:
            self.module.THREADS[self.oracle] = None
            self.module.LOCKS[self.oracle].release()


# ---------------------------------------------------------------- KerasTuner's distributed mode

def set_start_server(start_server: Callable[[Any], None]) -> Callable[[Any], None]:
    """Make ``BaseTuner.search`` (which looks it up at call time) serve the chief oracle with ``start_server``;
    returns KerasTuner's own."""
    from keras_tuner.src.distribute import oracle_chief

    previous, oracle_chief.start_server = oracle_chief.start_server, start_server
    return previous


def add_servicer(oracle: Any, server: Any) -> Any:
    """KerasTuner's gRPC servicer of ``oracle``, added to ``server``."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def chief_may_exit(oracle: Any) -> bool:
    from keras_tuner.src.distribute import oracle_chief

    return oracle_chief.exit_chief(oracle)


def set_client_timeout(seconds: float) -> None:
    """How long a worker's oracle client waits for the chief's answer."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def oracle_stub(client: Any, channel: Any) -> Any:
    """Point a worker's oracle client at ``channel``; the stub."""
    from keras_tuner.src import protos

    client.stub = protos.get_service_grpc().OracleStub(channel)
    return client.stub


def beat_request(trial_id: str) -> Any:
    from keras_tuner.src import protos

    return protos.get_service().UpdateTrialRequest(trial_id=trial_id, metrics={}, step=0)


# ---------------------------------------------------------------- the tuner and the AutoModel

def tuner_file(tuner: Any) -> str:
    return tuner._get_tuner_fname()


def reopen_search(tuner: Any) -> None:
    """AutoKeras: let a reloaded tuner's search() run its end again (best_model.keras, best_pipeline)."""
    tuner._finished = False


def save_build_config(tuner: Any, trial_id: str, model: Any) -> None:
    """KerasTuner's own ``_build_and_fit_model`` writes build_config.json, which Hyperband reloads to
    warm-start a later trial from this one; AutoKeras' override never does (NotFoundError)."""
    save_json(tuner._get_build_config_fname(trial_id), model.get_build_config())


def pipeline_path(tuner: Any, trial_id: str) -> str:
    return tuner._pipeline_path(trial_id)


def prepare_trial_build(auto_model: Any, x: Any, y: Any, trial: Any) -> None:
    """What AutoModel.fit does before a trial's model can be built: adapt and analyse the data, build the
    preprocessing graph (the model's shapes come from the data)."""
    (x, y), _ = auto_model._check_and_adapt(x, y, None)
    auto_model._analyze_data((x, y))
    auto_model._build_hyper_pipeline()
    auto_model.tuner._prepare_model_build(trial.hyperparameters, x=x, y=y)


class BuildOverride:
    """Put before an AutoKeras tuner class: its build and its build-and-fit go through ``checked_build``
    and ``around_fit``, which the subclass defines."""

    def checked_build(self, hp: Any, build: Callable[[], Any]) -> Any:
        return build()

    def around_fit(self, trial: Any, fit: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fit(*args, **kwargs)

    def _try_build(self, hp: Any) -> Any:
        return self.checked_build(hp, lambda: super(BuildOverride, self)._try_build(hp))

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        return self.around_fit(trial, lambda *a, **k: super(BuildOverride, self)._build_and_fit_model(trial, *a, **k),
                               *args, **kwargs)


def epoch_tensorboard(log_dir: Path) -> Any:
    """Keras' TensorBoard callback, per-epoch summaries. Keras 3.12's calls ``tf.summary.scalar`` for every
    metric of every batch even with ``update_freq="epoch"``, where no writer records them: 0.5 ms of CPU a
    batch (measured; 2% of a text search) spent writing nothing. This one skips those calls, and only those.

    KerasTuner's ``Tuner._configure_tensorboard_dir`` moves a callback whose class is named exactly
    ``TensorBoard`` into ``<log_dir>/<KerasTuner id>/execution0`` (a re-run attempt shares its folder) with
    HParams of the values drawn before the build; it leaves this one alone, and ``tuning.trial_tensorboard``
    gives each trial attempt its folder (``trials_root``/<attempt>) and HParams records instead."""
    import keras

    class EpochTensorBoard(keras.callbacks.TensorBoard):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self._should_trace or self.update_freq != "epoch" or self.write_steps_per_second:
                super().on_train_batch_end(batch, logs)
            elif self._should_write_train_graph:  # what Keras' method writes after the first batch
                self._write_keras_model_train_graph()
                self._should_write_train_graph = False

    callback = EpochTensorBoard(log_dir=str(log_dir))
    callback.trials_root = str(log_dir)  # KerasTuner deep-copies the callback for each fit; the copies keep it
    return callback


def order_best_trials(oracle: Any, order: Callable[[list[Any]], list[Any]]) -> None:
    """Make ``oracle.get_best_trials`` (what ``get_best_model``, ``get_best_pipeline`` and AutoKeras' greedy
    oracle read) rank its COMPLETED trials by ``order`` (the selection rule, ``tuning.selection``) instead of
    by score alone, where the first of equal scores wins; the other trials follow as KerasTuner's do."""
    completed = trial_status().COMPLETED

    def get_best_trials(num_trials: int = 1) -> list[Any]:
        done = order([t for t in oracle.trials.values() if t.status == completed])
        if len(done) < num_trials:
            done += [t for t in oracle.trials.values() if t.status != completed]
        return done[:num_trials]

    oracle.get_best_trials = get_best_trials
