"""KerasTuner's chief (``oracle_chief``), hardened for a search on many processes (keras-tuner 1.4.x).

Stock KerasTuner 1.4.8 has no heartbeat: a worker killed mid-trial keeps its trial RUNNING forever, the
budget silently shrinks and the chief never exits; it also polls for its end every 20 s and lets a second
server bind the same port (gRPC's ``SO_REUSEPORT``). See docs/research/kerastuner-distributed.md. Here:

- ``install_chief_server`` replaces ``oracle_chief.start_server`` (looked up by ``BaseTuner.search`` at
  call time) with a copy that refuses a taken port, polls every 0.5 s, stops for a signal or a fatal
  error, and stops the gRPC server explicitly.
- ``harden(oracle, ...)`` re-classes the chief's oracle instance: workers beat (``update_trial`` with the
  trial id ``heartbeat:<tuner id>``, answered without touching a trial); a worker silent for
  ``lost_after`` seconds is dropped, and its trial goes back to KerasTuner's own retry queue (same id and
  hyperparameters; a trial that lost two workers is failed instead, its budget slot given back); while
  trials run, a worker that would be told STOPPED is told IDLE, so it is still there to take a trial
  that is lost later; results from a worker for a trial it no longer owns are ignored; three
  consecutive failures end the search (``fatal``) instead of hanging the chief. The dropping is done by a
  reaper thread, which ``stop_reaper()`` stops; the chief (``distributed.run_chief_trials``) stops it and
  puts KerasTuner's own ``start_server`` back when it ends. KerasTuner's private names: ``kt_adapter``.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Any, Callable

from autosearch.tuning import kt_adapter as kt
from autosearch.tuning.chief_auth import Link, serve_port, server_interceptor

HEARTBEAT = "heartbeat:"  # update_trial(trial_id="heartbeat:<tuner id>", {}) is a beat, not a result
SERVER_THREADS = 8
MAX_LOSSES = 2  # a trial whose worker was lost this often is failed rather than retried again


def install_chief_server(address: str, should_stop: Callable[[], BaseException | None], link: Link,
                         refused: Callable[[str], None], poll: float = 0.5, grace: float = 1.0) -> Callable[[Any], None]:
    """Serve the oracle on ``address`` (``host:port``) to callers holding ``link``'s token (TLS with its
    certificate, when it has one) until the search ends, ``should_stop()`` returns an exception (raised), or
    the oracle records a fatal error; ``refused(line)`` for each peer turned away. Returns KerasTuner's own
    server, for ``kt_adapter.set_start_server`` to put back when the chief ends."""
    from concurrent import futures

    import grpc

    from autosearch.errors import DistributedError

    def start_server(oracle: Any) -> None:
        # several threads: a slow caller does not stall the others (the oracle has its own lock)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=SERVER_THREADS),
                             interceptors=[server_interceptor(link.token, refused)],
                             options=[("grpc.so_reuseport", 0)])
        servicer = oracle.servicer = kt.add_servicer(oracle, server)
        try:
            serve_port(server, address, link)
        except RuntimeError:
            raise DistributedError(f"the chief cannot listen on {address}: the port is taken or the address is "
                                   "not this machine's; pass another --port (or --host).") from None
        server.start()
        try:
            while not (servicer.stop_triggered and kt.chief_may_exit(oracle)) and not oracle.fatal:
                stop = should_stop()
                if stop is not None:
                    raise stop
                time.sleep(poll)
        finally:
            server.stop(grace).wait()

    return kt.set_start_server(start_server)


class _Hardened:
    """Put in front of the chief oracle's own class (GreedyOracle, RandomSearchOracle, ...)."""

    def _harden(self, lost_after: float, on_lost: Callable[[str, str | None, str], None],
                budget_exhausted: Callable[[], bool], log: Callable[[str], None], poll: float) -> None:
        self._lost_after, self._on_lost, self._budget_exhausted, self._log = lost_after, on_lost, budget_exhausted, log
        self._heard: dict[str, float] = {}  # tuner id -> chief time of its last call or beat
        self._losses: collections.Counter = collections.Counter()  # trial id -> workers lost running it
        self.lost: list[tuple[str, str | None, float]] = []  # (tuner id, trial id, seconds silent)
        self.workers_seen: set[str] = set()
        self.fatal: str | None = None
        self.servicer: Any = None
        self._reaper_stop = threading.Event()
        self.reaper = threading.Thread(target=self._reaper_loop, args=(poll,), name="autosearch-reaper", daemon=True)
        self.reaper.start()

    def stop_reaper(self, timeout: float | None = None) -> None:
        """Stop the reaper thread (after the round it may be in) and wait for it; the chief calls it as it ends."""
        self._reaper_stop.set()
        if self.reaper is not threading.current_thread():
            self.reaper.join(timeout)

    def _owner(self, trial_id: str) -> str | None:
        return next((tuner for tuner, t in self.ongoing_trials.items() if t.trial_id == trial_id), None)

    def get_space(self) -> Any:  # KerasTuner locks only the trial calls; the server has several threads
        with kt.oracle_lock(self):
            return super().get_space()

    def update_space(self, hyperparameters: Any) -> Any:
        with kt.oracle_lock(self):
            return super().update_space(hyperparameters)

    def create_trial(self, tuner_id: str) -> Any:
        TS = kt.trial_status()
        with kt.oracle_lock(self):
            self._heard[tuner_id] = time.time()
            if tuner_id not in self.workers_seen:
                self.workers_seen.add(tuner_id)
                self._log(f"worker {tuner_id} joined")
            if self.max_trials and self._budget_exhausted() and len(self.trials) < self.max_trials:
                self.max_trials = len(self.trials)  # the time budget is spent: no new trial
            known = tuner_id in self.ongoing_trials
            trial = super().create_trial(tuner_id)
            if trial.status == TS.STOPPED and self.ongoing_trials:
                self.tuner_ids.add(tuner_id)  # stay: a running trial may still lose its worker
                trial.status = TS.IDLE
            elif trial.status == TS.RUNNING and not known:
                self._log(f"trial {trial.trial_id} -> {tuner_id}")
            return trial

    def update_trial(self, trial_id: str, metrics: Any, step: int = 0) -> Any:
        with kt.oracle_lock(self):
            if trial_id.startswith(HEARTBEAT):
                self._heard[trial_id[len(HEARTBEAT):]] = time.time()
                return kt.new_trial(self.hyperparameters, trial_id, kt.trial_status().RUNNING)
            owner = self._owner(trial_id)
            if owner is None:
                self._log(f"ignored a result for trial {trial_id} from a worker that no longer runs it")
                return self.trials[trial_id]
            self._heard[owner] = time.time()
            return super().update_trial(trial_id, metrics, step=step)

    def end_trial(self, trial: Any) -> None:
        with kt.oracle_lock(self):
            owner = self._owner(trial.trial_id)
            if owner is None:
                self._log(f"ignored the end of trial {trial.trial_id} from a worker that no longer runs it")
                return
            self._heard[owner] = time.time()
            self._end(trial)
            self._log(f"trial {trial.trial_id} {self.trials[trial.trial_id].status} by {owner}")

    def _end(self, trial: Any) -> None:
        try:
            super().end_trial(trial)
        except RuntimeError as exc:  # consecutive failures: KerasTuner gives up; so does the chief
            self.fatal = " ".join(str(exc).split())[:300]
            raise

    def _reap_once(self) -> None:
        TS = kt.trial_status()
        lost: list[tuple[str, str | None, str]] = []
        with kt.oracle_lock(self):
            now = time.time()
            for tuner_id in sorted(self.tuner_ids):
                silent = now - self._heard.get(tuner_id, now)
                if silent < self._lost_after:
                    continue
                self.tuner_ids.discard(tuner_id)
                trial = self.ongoing_trials.pop(tuner_id, None)
                self.lost.append((tuner_id, trial and trial.trial_id, round(silent, 1)))
                message = f"worker {tuner_id} lost: not heard of for {silent:.0f} s"
                if trial is None:
                    self._log(f"{message}; it ran no trial")
                    continue
                self._losses[trial.trial_id] += 1
                trial.message = message
                if self._losses[trial.trial_id] < MAX_LOSSES:
                    kt.requeue(self, trial)  # KerasTuner's retry path: the next worker that asks re-runs it
                    self._log(f"{message}; trial {trial.trial_id} goes to the next worker")
                else:
                    trial.status = TS.FAILED
                    self.ongoing_trials[tuner_id] = trial  # end_trial pops it
                    self._end(trial)
                    if self.max_trials:
                        self.max_trials += 1
                    self._log(f"{message}; trial {trial.trial_id} lost {MAX_LOSSES} workers and is failed")
                lost.append((tuner_id, trial.trial_id, message))
        for args in lost:  # tracker writes outside the oracle's lock
            self._on_lost(*args)

    def _reaper_loop(self, poll: float) -> None:
        while not self._reaper_stop.wait(poll):
            try:
                self._reap_once()
            except Exception as exc:  # noqa: BLE001 - keep the reaper alive; say why
                self._log(f"reaper error: {type(exc).__name__}: {exc}"[:300])


def harden(oracle: Any, lost_after: float, on_lost: Callable[[str, str | None, str], None],
           budget_exhausted: Callable[[], bool] = lambda: False, log: Callable[[str], None] = lambda m: None,
           poll: float = 1.0) -> Any:
    """Turn the chief's oracle into a ``_Hardened`` one (see the module doc); ``on_lost(tuner id, trial id,
    message)`` is called for each trial whose worker was lost. Call its ``stop_reaper()`` when the chief ends."""
    cls = oracle.__class__
    oracle.__class__ = type(f"Hardened{cls.__name__}", (_Hardened, cls), {})
    oracle._harden(lost_after, on_lost, budget_exhausted, log, poll)
    return oracle


def chief_env(address: str, tuner_id: str) -> None:
    """The environment that switches KerasTuner to distributed mode in this process (chief iff the tuner id
    contains ``chief``: KerasTuner's own test). A chief's port is checked here, before TensorFlow loads and
    the baselines train: a taken one fails at once with one line, not after a search nobody can join."""
    host, _, port = address.rpartition(":")
    if "chief" in tuner_id:
        check_port(host, int(port))
    os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port, KERASTUNER_TUNER_ID=tuner_id)


def check_port(host: str, port: int) -> None:
    """Raise ``DistributedError`` unless the chief can listen on ``host:port`` now. Binds as gRPC does
    (``SO_REUSEADDR``: a port left in TIME_WAIT is free; another listener's port is not)."""
    import socket

    from autosearch.errors import DistributedError

    where = f"the chief cannot listen on {host}:{port}"
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as exc:  # socket.gaierror included: a host this machine cannot resolve
        reason = exc.strerror or str(exc)
        raise DistributedError(f"{where}: {reason}; pass another --port (or a --host of this machine).") from None
