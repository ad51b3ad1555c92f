"""A real, throwaway ``mlflow server`` for tests: one per test process, a loopback port, a temporary directory.

It keeps runs in a SQLite backend store and serves artifacts itself (``--artifacts-destination``: clients
upload through the server, as a team's server is usually set up). Starting takes about 20 s (more on a busy
machine), so the first test that needs it starts it and every later one shares it (``shared_server``); it
stops when the test process exits, and with PR_SET_PDEATHSIG if that process is killed. Without MLflow the
tests that need it skip, except where the components are required (tests/required_services.py): there
they fail.

    server = shared_server()        # http://127.0.0.1:<port>
    uri = server.uri

``AUTOSEARCH_TEST_MLFLOW_URI=http://127.0.0.1:<port>`` points the tests at a loopback server already running.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

_shared: "MlflowServer | None" = None
_failed: str | None = None  # why the shared server did not start: later tests fail at once, not after a wait
_names = itertools.count(1)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_cli() -> Path | None:
    """The ``mlflow`` command next to this Python (the venv's), or None without MLflow."""
    path = Path(sys.executable).with_name("mlflow")
    return path if path.exists() else (Path(found) if (found := shutil.which("mlflow")) else None)


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite store and proxied artifacts in a temporary directory."""

    def __init__(self, start_timeout: float = 180.0):
        self.start_timeout, self.dir, self.proc, self.port = start_timeout, None, None, 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MlflowServer":
        cli = mlflow_cli()
        if cli is None:
            raise FileNotFoundError("the mlflow command is not installed (pip install 'autosearch[mlflow]')")
        self.dir = Path(tempfile.mkdtemp(prefix="autosearch-mlflow-"))
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [str(cli), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.dir / 'mlflow.db'}",
             "--artifacts-destination", str(self.dir / "artifacts")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "ab"),
            cwd=self.dir, preexec_fn=_die_with_parent, process_group=0,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})  # no job workers: none used
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        log = (self.dir / "server.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {self.start_timeout:.0f} s: {log}")

    def stop(self) -> None:
        if self.proc is not None:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):  # the server, then whatever it left
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(wait)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def prefix(self) -> str:
        """A fresh experiment-name prefix: an empty namespace on the shared server for one test."""
        return f"t{next(_names)}-{time.time_ns() % 10**9}-"


def require_mlflow() -> None:
    """Skip without MLflow, or fail where the components are required."""
    from required_services import unavailable

    try:
        import mlflow  # noqa: F401
    except ImportError:
        unavailable("MLflow is not installed", "pip install 'autosearch[mlflow]' (make install does)")
    if mlflow_cli() is None:
        unavailable("the mlflow command is not installed", "pip install 'autosearch[mlflow]' (make install does)")


def shared_server() -> MlflowServer:
    """The test process's one MLflow server, started on first use and stopped at exit."""
    global _shared, _failed
    require_mlflow()
    if _failed is not None:
        raise RuntimeError(_failed)
    if _shared is None and os.environ.get("AUTOSEARCH_TEST_MLFLOW_URI"):  # a server already running (development)
        _shared = MlflowServer()
        _shared.port = int(os.environ["AUTOSEARCH_TEST_MLFLOW_URI"].rsplit(":", 1)[1])
    if _shared is None:
        try:
            _shared = MlflowServer().start()
        except Exception as exc:
            _failed = str(exc)
            raise
        atexit.register(_shared.stop)
    return _shared
