"""The ClearML SDK under deadlines, for ``tracking.clearml``: where the server is, whether (and why not) it
answers, request limits for this process, calls under a deadline, and the SDK's console lines autosearch says
once itself. Imports ``clearml`` only inside functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RETRIES = 2  # per request and kind; the 2nd waits `timeout` first, so a refused port is no busy loop
MIN_UPLOAD_BYTES_PER_S = 50_000  # the SDK's own floor for upload timeouts (storage/helper.py, min_kbps_speed)
# the SDK's own lines about the offline session: autosearch moves it to <run dir>/clearml/session.zip and says so
SDK_OFFLINE_LINES = ("ClearML running in offline mode", "ClearML Task: Offline session stored in")


def configured_server() -> str | None:
    """The API server from ``CLEARML_API_HOST`` or a clearml.conf file, if any."""
    if os.environ.get("CLEARML_API_HOST"):
        return os.environ["CLEARML_API_HOST"]
    for path in (os.environ.get("CLEARML_CONFIG_FILE"), Path.home() / "clearml.conf"):
        if path and Path(path).is_file():
            match = re.search(r"api_server\s*[:=]\s*\"?([^\s\"]+)", Path(path).read_text(errors="ignore"))
            if match:
                return match.group(1)
    return None


def server_problem(url: str, timeout: float) -> str | None:
    """Why the server does not answer HTTP (any status) within ``timeout`` (a TCP accept proves nothing):
    ``refused the connection at host:port (is the ClearML server running?)``, ``did not answer within 3s``...;
    None when it answers."""
    import requests

    full = (url if "://" in url else "http://" + url).rstrip("/")
    try:
        requests.get(full + "/debug.ping", timeout=timeout)
        return None
    except requests.Timeout:
        return f"did not answer within {timeout:g}s"
    except requests.ConnectionError as exc:
        if _refused(exc):
            parts = urlsplit(full)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return f"refused the connection at {parts.hostname}:{port} (is the ClearML server running?)"
        return f"could not be reached ({_reason(exc)})"
    except requests.RequestException as exc:
        return f"could not be reached ({_reason(exc)})"


def _refused(exc: BaseException | None) -> bool:
    """Whether a ``ConnectionRefusedError`` lies in the chain of causes (urllib3 wraps it twice)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConnectionRefusedError) or "Connection refused" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__ or (exc.args[0] if exc.args and isinstance(
            exc.args[0], BaseException) else getattr(exc, "reason", None)), seen + 1
    return False


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def call_deadline(timeout: float, *uploads: Path) -> float:
    """3 unanswered reads and a backoff of ``timeout`` (``bound_sdk``), 1 more, and ``uploads`` at 50 kB/s."""
    size = sum(f.stat().st_size for path in uploads for f in [path, *path.rglob("*")] if f.is_file())
    return (RETRIES + 3) * timeout + size / MIN_UPLOAD_BYTES_PER_S


def bound_sdk(timeout: float, folder: Path) -> None:
    """For this process: requests bounded by ``timeout``, SDK files under ``folder``, no public demo server."""
    os.environ["CLEARML_NO_DEFAULT_SERVER"] = "1"
    os.environ["CLEARML_CACHE_DIR"] = str(folder)  # config/__init__.py get_cache_dir(): offline/<task id>
    from clearml.backend_api.session.session import Session
    from clearml.config import ConfigSDKWrapper, ConfigWrapper
    from clearml.config.cache import SessionCache

    retries = {**dict.fromkeys(("total", "connect", "read", "redirect", "status"), RETRIES),
               "backoff_factor": timeout / 2, "backoff_max": timeout}  # api.conf default: 240, wait forever
    ConfigWrapper.set_overrides({
        "api": {"http": {"retries": retries,
                         "wait_on_maintenance_forever": False}},
        "sdk": {"http": {"timeout": {"connection": timeout, "total": timeout}, "download": {"max_retries": RETRIES}},
                "storage": {"cache": {"default_base_dir": str(folder)}}}})
    ConfigSDKWrapper.clear_config_impl()  # it caches the "sdk" section on first use
    # (connect, read) per request, by default (3, 10) for the first, then (10, 300), and (300, 300) for big ones:
    Session._session_initial_timeout = Session._session_timeout = Session._write_session_timeout = (timeout, timeout)
    SessionCache.SESSION_CACHE_FOLDER = str(folder)  # default ~/.clearml


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()`` in a daemon thread; ``TimeoutError`` if it has not returned within ``seconds`` (it is left behind)."""
    future: Future = Future()

    def target() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            future.set_exception(exc)

    threading.Thread(target=target, name="clearml-call", daemon=True).start()
    return future.result(timeout=seconds)


def abandon(task: Any) -> None:
    """Silence the SDK; let go of a task on a mute server: each stop, begun in a daemon thread, first marks itself
    done, so exit hooks do not join threads that retry forever (``backend_interface/base.py`` ``_send``)."""
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "clearml"]:
        logging.getLogger(name).disabled = True  # its threads retry, and say so, until the process ends
    for stop in (task._reporter.stop, task.close) if task is not None else ():
        with contextlib.suppress(Exception):  # TimeoutError too: that stop goes on in its thread
            within(0.5, stop)


@contextlib.contextmanager
def without_lines(starts: tuple[str, ...]) -> Iterator[None]:
    """The SDK's stdout lines (it ``print``s them) that begin with ``starts`` are dropped; the others are kept."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        sys.stdout.write("".join(line for line in buffer.getvalue().splitlines(keepends=True)
                                 if not line.startswith(starts)))
