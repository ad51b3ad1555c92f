"""One search on many processes and machines: the chief's run, a worker joining it, and the local launcher.

- ``Chief`` plugs into ``workflows.search.run_search``: the run is started as usual (data checked, run
  recorded with its fingerprint and resolved pipeline), the join command is announced, then the chief
  serves the trials (``tuning.distributed``) and scores, bundles and finishes the run once all ended.
- ``run_worker`` joins a live run: it reads the run's pipeline and data fingerprint from the tracker,
  refuses to start on any difference, and trains in the run's directory (shared between machines).
- ``launch`` runs a chief and N workers on this machine (loopback, a fresh port) and supervises them.
No TensorFlow here: the chief and workers import it in their own processes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from autosearch.config import PipelineConfig, config_from_run
from autosearch.errors import DistributedError
from autosearch.redaction import redact
from autosearch.tracking import RunInfo, RunStatus, Tracker
from autosearch.tracking.liveness import this_host
from autosearch.tuning.chief_auth import LOOPBACK, TOKEN_ENV

JOIN = re.compile(r"autosearch worker --chief (\S+) --run (\S+)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def default_worker_id() -> str:
    """``worker-<host>-<pid>``: unique per process (KerasTuner runs two processes with one id as one worker)
    and never containing ``chief`` (KerasTuner would take it for the chief)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", this_host()).replace("chief", "chf")
    return f"worker-{host}-{os.getpid()}"


@dataclass
class Chief:
    """The distributed part of a search (``run_search(..., chief=Chief(...))``)."""

    bind: str  # host:port the gRPC server binds
    advertise: str  # host:port workers dial
    lost_after: float
    say: Callable[[str], None]  # where the join command goes (stdout)
    tracker_arg: str | None = None  # a --tracker the workers need too (printed redacted)
    home: Path | None = None  # AUTOSEARCH_HOME: the run folder, where a generated token goes
    token_file: str | None = None  # --token-file (else AUTOSEARCH_CHIEF_TOKEN, else a generated one)
    tls: tuple[str, str] | None = None  # --tls-cert, --tls-key
    link: Any = field(default=None, repr=False)  # tuning.chief_auth.Link, once announced
    made: Path | None = None  # the token file generated into the run folder

    @property
    def record(self) -> dict[str, Any]:
        return {"chief": self.advertise, "bind": self.bind, "lost_after": self.lost_after, "tls": bool(self.tls)}

    def join_command(self, run_id: str) -> str:
        tracker = f" --tracker {redact(self.tracker_arg)}" if self.tracker_arg else ""
        token = f" --token-file {shlex.quote(self.link.source)}" if self.link and self.link.source != TOKEN_ENV else ""
        tls = f" --tls-ca {shlex.quote(self.tls[0])}" if self.tls else ""
        return f"autosearch worker --chief {self.advertise} --run {run_id}{tracker}{token}{tls}"

    def announce(self, run_id: str) -> None:
        """Read or generate the token (never shown), then print how workers join and which file to copy."""
        from autosearch.tuning.chief_auth import chief_link

        run_dir = Path(self.home or ".").resolve() / "runs" / run_id
        self.link, self.made = chief_link(self.token_file, run_dir, self.tls)
        self.say(f"chief of run {run_id} on {self.bind}; workers join with: {self.join_command(run_id)}")
        if self.made is not None:
            self.say(f"the chief's token is in {self.made} (owner-only): copy it to each worker's machine (chmod 600 "
                     "there) and give its path to --token-file; workers sharing the run folder read it there")
        elif self.link.source == TOKEN_ENV:
            self.say(f"workers need {TOKEN_ENV} set to the chief's token (or --token-file <a file holding it>)")
        if self.bind.rpartition(":")[0] not in LOOPBACK and not self.tls:
            print("warning: the chief listens beyond this machine without TLS: its token and the trials cross the "
                  "network in clear; pass --tls-cert/--tls-key (workers --tls-ca).", file=sys.stderr, flush=True)

    def run_trials(self, cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: Any,
                   progress: Any, resumption: Any) -> Any:
        from autosearch.tuning.distributed import Cluster, run_chief_trials

        return run_chief_trials(cfg, tracker, run_id, run_dir, split, progress,
                                Cluster(self.bind, self.link, self.lost_after))


def chief_for(host: str, port: int | None, lost_after: float, say: Callable[[str], None],
              tracker_arg: str | None, home: Path | None = None, token_file: str | None = None,
              tls: tuple[str, str] | None = None) -> Chief:
    """A chief binding ``host`` (``0.0.0.0`` for every interface) on ``port`` (a free one when None); it
    advertises this machine's name when it binds every interface. A given token file or TLS files are
    checked here, before anything trains."""
    from autosearch.tuning.chief_auth import given_token, read_pem

    given_token(token_file)
    for path, option in zip(tls or (), ("--tls-cert", "--tls-key")):
        read_pem(path, option)
    port = port or free_port("127.0.0.1" if host in ("127.0.0.1", "localhost") else "")
    advertise = this_host() if host in ("0.0.0.0", "", "::") else host
    return Chief(f"{host}:{port}", f"{advertise}:{port}", lost_after, say, tracker_arg, home, token_file, tls)


# ---------------------------------------------------------------------------------------------- the worker

@dataclass(frozen=True)
class WorkerResult:
    run_id: str
    worker: str
    trials: int


def find_run(tracker: Tracker, run_id: str | None, chief: str) -> RunInfo:
    """The live distributed run a worker joins: ``run_id``, or the only running one whose chief uses that port."""
    port = chief.rpartition(":")[2]
    if run_id is None:
        live = [r for r in tracker.list_runs() if r.status is RunStatus.RUNNING
                and str(r.outcome.chief or "").rpartition(":")[2] == port]
        if len(live) != 1:
            raise DistributedError(f"{len(live)} running searches in {redact(tracker.uri)} have a chief on port "
                                   f"{port}; pass --run <run id> (the chief prints it).")
        return live[0]
    run = tracker.get_run(run_id)
    recorded = run.outcome.chief
    if run.status is not RunStatus.RUNNING:
        raise DistributedError(f"run {run_id} is {run.status.value}, not running: a worker joins a live chief; "
                               "start a new search (autosearch chief ...).")
    if not recorded:
        raise DistributedError(f"run {run_id} is a one-process search, not a distributed one; start 'autosearch "
                               "chief ...' and join the run it prints.")
    if str(recorded).rpartition(":")[2] != port:
        raise DistributedError(f"run {run_id}'s chief listens on {recorded}, not on {chief}; use the join command "
                               "the chief printed.")
    return run


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first key path where two nested dicts differ (``search.max_trials: 4 != 5``), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def check_worker(run: RunInfo, split: Any, own: PipelineConfig | None) -> None:
    """Refuse a worker whose data (fingerprint) or own pipeline differ from the chief's run, in one line."""
    from autosearch.data.split import check_same_data
    from autosearch.workflows.search import fit_settings

    check_same_data(split, run.run_id, run.fingerprint,
                    "give this worker the chief's data files (same paths and contents) and start it again")
    if own is not None:
        recorded = config_from_run(run.config, run.run_id).to_dict()
        mine = fit_settings(own, split)[0].to_dict()
        for d in (recorded, mine):  # the same data may live at another path here: the fingerprint judges it
            d.get("data", {}).pop("dataset", None)
        diff = first_difference(mine, recorded)
        if diff:
            raise DistributedError(f"this worker's pipeline differs from run {run.run_id}'s ({diff}); start it "
                                   "without --pipeline (it reads the run's) or with the chief's options.")


def run_worker(tracker: Tracker, chief: str, run_id: str | None = None, tuner_id: str | None = None,
               progress: Any = None, own: PipelineConfig | None = None, run_dir: Path | None = None,
               lost_after: float | None = None, token_file: str | None = None,
               tls_ca: str | None = None) -> WorkerResult:
    """Join the chief at ``chief`` (``host:port``) for its run and train trials until it says stop; every call
    carries the chief's token (``token_file``, ``AUTOSEARCH_CHIEF_TOKEN`` or the run folder's), over TLS
    when ``tls_ca`` is given. Raises ``DistributedError`` before training or recording anything when this
    worker cannot take part (its token refused included)."""
    from autosearch.tuning.chief_auth import probe, worker_link
    from autosearch.tuning.distributed import CONNECT_TIMEOUT
    from autosearch.data import prepare_data
    from autosearch.tuning.distributed import run_worker_trials
    from autosearch.tuning.progress import SilentProgress

    run = find_run(tracker, run_id, chief)
    cfg = config_from_run(run.config, run.run_id)
    split = prepare_data(own or cfg)
    check_worker(run, split, own)
    run_dir = Path(run_dir) if run_dir else run.run_dir
    if run_dir is None or not run_dir.is_dir():
        raise DistributedError(f"run {run.run_id}'s directory {run_dir} is not visible here; share it (the same "
                               "AUTOSEARCH_HOME on a shared file system) or pass --run-dir.")
    link = worker_link(token_file, run_dir, tls_ca)
    if (run.summary.get("distributed") or {}).get("tls") and not link.ca:
        raise DistributedError(f"the chief of run {run.run_id} serves TLS; pass --tls-ca <the CA certificate that "
                               "signed its certificate (the certificate itself when self-signed)>.")
    probe(chief, link, CONNECT_TIMEOUT)  # a refused token or TLS handshake ends here, in one line
    tuner_id = tuner_id or default_worker_id()
    if "chief" in tuner_id:
        raise DistributedError(f"worker id {tuner_id!r} contains 'chief', which KerasTuner reserves; pick another.")
    lost = lost_after or run.outcome.lost_after
    n = run_worker_trials(cfg, tracker, run.run_id, run_dir.resolve(), split, progress or SilentProgress(), chief,
                          tuner_id, link, lost)
    return WorkerResult(run.run_id, tuner_id, n)


# -------------------------------------------------------------------------------------------- the launcher

@dataclass
class Launch:
    """A chief and its workers on this machine, watched together."""

    chief_args: Sequence[str]  # autosearch chief ... (without --host/--port)
    workers: int
    worker_args: Sequence[str] = ()  # e.g. -q
    environ: dict[str, str] = field(default_factory=dict, repr=False)  # e.g. AUTOSEARCH_TRACKING_URI, for all
    out: TextIO = field(default=sys.stdout)
    chief: subprocess.Popen | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)
    run_id: str | None = None

    def _pump(self, stream: Any, prefix: str, joined: threading.Event | None = None) -> None:
        for line in stream:
            if joined is not None and not joined.is_set():
                m = JOIN.search(line)
                if m:
                    self.run_id = m.group(2)
                    joined.set()
            self.out.write(prefix + line)
            self.out.flush()
        if joined is not None:
            joined.set()

    def _spawn(self, args: Sequence[str], prefix: str, joined: threading.Event | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "autosearch", *args], env={**os.environ, **self.environ},
                                stdout=subprocess.PIPE, stderr=None if joined else subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1)
        threading.Thread(target=self._pump, args=(proc.stdout, prefix, joined), daemon=True).start()
        return proc

    def run(self) -> int:
        """Start the chief, then the workers once it announced its run; return the chief's exit code. Workers
        are stopped when the chief ends; the chief is stopped when every worker failed."""
        port = free_port()
        joined = threading.Event()
        self.chief = self._spawn([*self.chief_args, "--host", "127.0.0.1", "--port", str(port)], "", joined)
        try:
            while not joined.wait(0.2) and self.chief.poll() is None:
                pass
            if self.run_id is None:
                return self.chief.wait()
            for i in range(1, self.workers + 1):
                self.procs.append(self._spawn(["worker", "--chief", f"127.0.0.1:{port}", "--run", self.run_id,
                                               "--worker-id", f"worker-{i}", *self.worker_args], f"[worker-{i}] "))
            return self._supervise()
        except BaseException:
            self.stop(self.chief)
            raise
        finally:
            for proc in self.procs:
                self.stop(proc, grace=10.0)

    def _supervise(self) -> int:
        while self.chief.poll() is None:
            codes = [p.poll() for p in self.procs]
            if all(c is not None and c != 0 for c in codes):  # none was told to stop: all failed
                self.out.write(f"every worker stopped (exit codes {codes}); stopping the chief\n")
                self.stop(self.chief, grace=60.0)
                break
            time.sleep(0.2)
        for proc in self.procs:  # a finished chief has told its workers to stop: give them a moment
            try:
                proc.wait(timeout=15.0)
            except subprocess.TimeoutExpired:
                pass
        return self.chief.wait()

    @staticmethod
    def stop(proc: subprocess.Popen | None, grace: float = 30.0) -> None:
        """SIGTERM (the running trial is recorded INTERRUPTED), then SIGKILL after ``grace`` seconds."""
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
