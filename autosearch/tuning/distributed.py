"""One search on many processes: KerasTuner's distributed mode, tracked.

The chief (``run_chief_trials``) serves the oracle over gRPC and trains nothing; each worker
(``run_worker_trials``) asks it for trials, trains them in the shared run directory and records them
in the shared tracker under the run's id with its worker id (``extra["worker"]``). The chief returns
once every trial has ended, loads the best one (by the tracker's records, which every worker wrote)
and hands it to the caller like ``runner.run_trials`` does. What the stock chief lacks (a heartbeat, a
lost worker's trial given to another, a bounded wait for a dead chief) is in ``chief_oracle`` and here.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.errors import ChiefLost, SearchError
from autosearch.tracking import Tracker, TrialKind, TrialState
from autosearch.tracking.selection import candidate_of, choose
from autosearch.tuning import kt_adapter as kt
from autosearch.tuning.automodel import build_auto_model, fit, quiet_tensorflow
from autosearch.tuning.chief_auth import Link, open_channel
from autosearch.tuning.chief_oracle import HEARTBEAT, chief_env, harden, install_chief_server
from autosearch.tuning.hooks import TrialHooks, set_global_seed, tracked_tuner
from autosearch.tuning.policy import WorkerPolicy
from autosearch.tuning.progress import Progress
from autosearch.tuning.runner import SearchOutcome, log_baselines
from autosearch.tuning.trial_loop import LoopSetup, TrialLoop, callbacks

CHIEF_ID = "chief"
BEAT_EVERY = 2.0  # seconds between a worker's beats
LOST_AFTER = 20.0  # default seconds of silence after which a worker (or, for a worker, the chief) is lost
CONNECT_TIMEOUT = 300.0  # how long a worker started before its chief waits for the first answer


@dataclass(frozen=True)
class Cluster:
    """Where the chief listens (``host:port`` to bind), whom it admits (``link``: the token, TLS) and how
    long silence means a lost process."""

    bind: str
    link: Link
    lost_after: float = LOST_AFTER


def search_trials(tracker: Tracker, run_id: str) -> list[Any]:
    return [t for t in tracker.list_trials(run_id) if t.kind is TrialKind.SEARCH]


def close_lost_trial(tracker: Tracker, run_id: str, tuner_id: str, keras_trial_id: str | None, message: str) -> None:
    """Record the RUNNING tracker rows of a lost worker's trial INTERRUPTED (the chief calls it)."""
    print(f"warning: {message}" + (f"; its trial {keras_trial_id} is recorded INTERRUPTED" if keras_trial_id else ""),
          file=sys.stderr, flush=True)
    for t in tracker.find_trials([run_id], states=[TrialState.RUNNING], kinds=[TrialKind.SEARCH]):
        if (t.extra or {}).get("worker") == tuner_id and t.keras_trial_id in (keras_trial_id, None):
            tracker.finish_trial(t.trial_id, TrialState.INTERRUPTED, ended_at=time.time(), error=message)


def run_chief_trials(cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: SplitData,
                     progress: Progress, cluster: Cluster) -> SearchOutcome:
    """Score the baselines, then serve the oracle on ``cluster.bind`` until every trial has ended;
    return the best trial the workers recorded. Raises ``SearchError`` when none completed."""
    chief_env(cluster.bind, CHIEF_ID)
    kt.check_versions()
    quiet_tensorflow()
    import autokeras as ak
    from autokeras import pipeline as ak_pipeline

    from autosearch.tuning.resume import install_atomic_json

    install_atomic_json()
    hooks = TrialHooks(tracker, run_id, cfg, progress, run_dir)
    if cfg.search.baselines:
        log_baselines(tracker, run_id, cfg, split, progress)
    set_global_seed(cfg.search.seed)
    tuner_cls = tracked_tuner(ak.auto_model.get_tuner_class(cfg.search.tuner), hooks)
    # overwrite=False always: a project removed by one process would vanish under the others.
    auto_model = build_auto_model(cfg, split, run_dir, tuner_cls, overwrite=False)
    oracle = harden(auto_model.tuner.oracle, cluster.lost_after,
                    lambda tuner, trial, why: close_lost_trial(tracker, run_id, tuner, trial, why),
                    hooks.budget_exhausted, progress.message)
    stock_server = install_chief_server(cluster.bind, lambda: hooks.stop_requested, cluster.link, _refused)
    progress.search_begin(cfg.search.max_trials, cfg.search.epochs, cfg.search.objective, cfg.search.time_budget)
    try:
        fit(auto_model, cfg, split, cfg.search.epochs, callbacks(cfg, hooks.policy.patience(cfg), run_dir), hooks)
    except Exception as exc:
        if oracle.fatal or not _completed(tracker, run_id):
            raise _failure(tracker, run_id, oracle.fatal) from exc
        raise
    finally:
        oracle.stop_reaper(timeout=10.0)
        kt.set_start_server(stock_server)
    search = search_trials(tracker, run_id)
    done = [t for t in search if t.state is TrialState.COMPLETED and t.objective is not None]
    rows = len(split.indices["validation"])  # the one selection rule, as a local search's (tracking.selection)
    best = choose(filter(None, (candidate_of(t, cfg.search.objective, rows) for t in done)), cfg.search.direction)
    if best is None:
        raise _failure(tracker, run_id, oracle.fatal)
    row = next(t for t in done if t.trial_id == best.trial_id)
    tuner = auto_model.tuner
    _leave_project_reloadable(tuner)
    model = tuner.load_model(tuner.oracle.get_trial(row.keras_trial_id))
    pipeline = ak_pipeline.load_pipeline(kt.pipeline_path(tuner, row.keras_trial_id))
    return SearchOutcome(row.trial_id, row.objective, len(search), model, pipeline)


def _refused(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


def _leave_project_reloadable(tuner: Any) -> None:
    """Export, reproduce and resume reload the project as one process does (``tuner0.json``, ``oracle.json``):
    write both as the search ended (KerasTuner's chief leaves the last-ended trial listed as ongoing)."""
    tuner.oracle.save()
    kt.save_json(str(Path(tuner.project_dir) / "tuner0.json"), tuner.get_state())


def _completed(tracker: Tracker, run_id: str) -> bool:
    return any(t.state is TrialState.COMPLETED for t in search_trials(tracker, run_id))


def _failure(tracker: Tracker, run_id: str, fatal: str | None) -> SearchError:
    errors = "; ".join(sorted({t.error for t in search_trials(tracker, run_id) if t.error}))
    if fatal:
        return SearchError(f"run {run_id}: KerasTuner stopped the search after consecutive failed trials "
                           f"({errors or fatal}); the completed ones are in 'autosearch leaderboard {run_id}'.")
    return SearchError(f"run {run_id}: no trial completed ({errors or 'no worker ran a trial'}).")


class _WorkerDone(Exception):
    """Raised from ``on_search_end`` on a worker: the chief said STOPPED; skip AutoKeras' post-search steps
    (they would ask the chief for the best model, which only the chief loads)."""


class ChiefWatch:
    """A worker's beat to its chief, every ``BEAT_EVERY`` s from its first answer on. After ``lost_after``
    s without an answer the chief is lost: the running trial stops at its next batch (``stop``), and a
    worker still not out ``lost_after`` s later (stuck in a call) exits at once."""

    def __init__(self, chief: str, tuner_id: str, lost_after: float, stop: Callable[[ChiefLost], None], link: Link):
        self.chief, self.tuner_id, self.lost_after, self.stop, self.link = chief, tuner_id, lost_after, stop, link
        self._done = threading.Event()
        self.lost: ChiefLost | None = None
        self.channel: Any = None

    def start(self, client: Any) -> None:
        """Give the worker's oracle client a channel of ours (every call carries the token; closed when the chief
        is lost, which ends a call blocked on it at once) and start beating on it."""
        self.channel = open_channel(self.chief, self.link)
        threading.Thread(target=self._run, args=(kt.oracle_stub(client, self.channel),), name="autosearch-chief-watch", daemon=True).start()

    def _run(self, stub: Any) -> None:
        import grpc

        request = kt.beat_request(HEARTBEAT + self.tuner_id)
        last_ok = time.monotonic()
        while not self._done.wait(BEAT_EVERY):
            try:
                stub.UpdateTrial(request, timeout=min(5.0, self.lost_after), wait_for_ready=False)
                last_ok = time.monotonic()
            except grpc.RpcError:
                if time.monotonic() - last_ok >= self.lost_after:
                    break
        if self._done.is_set():
            return
        self.lost = ChiefLost(f"worker {self.tuner_id}: the chief at {self.chief} has not answered for "
                              f"{self.lost_after:.0f} s; this worker stops (its trial is recorded INTERRUPTED).")
        kt.quiet_kerastuner()  # KerasTuner would print the traceback of every call the closed channel ends
        self.stop(self.lost)
        self.channel.close()
        if not self._done.wait(self.lost_after):
            import os

            print(f"{type(self.lost).__name__}: {self.lost}", file=sys.stderr, flush=True)
            os._exit(ChiefLost.exit_code)

    def close(self) -> None:
        self._done.set()


def run_worker_trials(cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: SplitData,
                      progress: Progress, chief: str, tuner_id: str, link: Link, lost_after: float = LOST_AFTER) -> int:
    """Train the trials the chief at ``chief`` hands out until it says STOPPED (every call carries ``link``'s
    token); returns how many this worker ran. Raises ``ChiefLost`` when the chief stops answering. A held tracker lock costs no trial: its
    records wait in ``<run dir>/workers/<worker id>/`` and are all written before this returns."""
    chief_env(chief, tuner_id)
    quiet_tensorflow()
    kt.set_client_timeout(CONNECT_TIMEOUT)  # the chief may start after its workers
    policy = WorkerPolicy(
        worker=tuner_id, wrap=lambda tracked: worker_tuner(tracked, watch, lost_after),
        # a retried trial gets a new row: <n>-a2, <n>-a3...
        count_rows=lambda kt_id: sum(1 for t in search_trials(tracker, run_id) if t.keras_trial_id == kt_id),
        lost=lambda exc: _lost(exc, watch, chief, tuner_id),
        # the time budget runs from the run's start, as on the chief, not from this worker's
        elapsed=max(time.time() - tracker.get_run(run_id).started_at, 0.0))
    loop = TrialLoop(LoopSetup(cfg, tracker, run_id, run_dir, split, progress), policy)
    watch = ChiefWatch(chief, tuner_id, lost_after, lambda lost: setattr(loop.hooks, "stop_requested", lost), link)
    try:
        loop.run()
    finally:
        watch.close()
    return len(loop.hooks.finished())


def _lost(exc: BaseException, watch: ChiefWatch, chief: str, tuner_id: str) -> BaseException | None:
    """A worker's failed fit: None when the chief said STOPPED, ``ChiefLost`` when it went silent."""
    import grpc

    if isinstance(exc, _WorkerDone):
        return None
    lost = watch.lost or (ChiefLost(f"worker {tuner_id}: lost the chief at {chief} ({exc.code().name}); "
                                    "this worker stops.") if isinstance(exc, grpc.RpcError) else None)
    if lost is None:
        return exc
    lost.__suppress_context__ = True
    return lost


def worker_tuner(base: type, watch: ChiefWatch, lost_after: float) -> type:
    """A worker's tuner class, from the tracked one: it never touches the oracle's files, beats to the chief,
    waits a second before re-asking for a trial and skips AutoKeras' end of the search."""
    TrialStatus = kt.trial_status()

    class Worker(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)  # KerasTuner's client made a plain channel, never used: ours instead
            kt.oracle_stub(self.oracle, open_channel(watch.chief, watch.link))

        def reload(self) -> None:
            """Workers never load or save the oracle: the chief's is the only one."""

        def pre_create_trial(self) -> None:
            """The chief's oracle applies the time budget (it cannot be set through the gRPC client)."""

        def on_search_begin(self) -> None:
            super().on_search_begin()
            kt.set_client_timeout(lost_after)  # first contact made: from now on a silent chief is lost
            create = self.oracle.create_trial

            def create_trial(tuner: str) -> Any:
                trial = create(tuner)
                if trial.status == TrialStatus.IDLE:
                    time.sleep(1.0)  # KerasTuner re-asks at once; the chief answers IDLE while others train
                return trial

            self.oracle.create_trial = create_trial
            watch.start(self.oracle)

        def on_trial_end(self, trial: Any) -> None:
            if watch.lost:  # nobody to report to: the loop records the trial INTERRUPTED
                raise watch.lost
            super().on_trial_end(trial)

        def on_search_end(self) -> None:
            raise _WorkerDone()

    Worker.__name__ = Worker.__qualname__ = f"Worker{base.__name__}"
    return Worker
