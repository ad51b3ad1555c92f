"""The crash matrix's bundle checker: ONE long-lived child (``python -m benchmarks.crash_checker``) that imports
TensorFlow once and answers one JSON line per request (load a bundle and predict; ``autosearch runs --format
json``), so that the matrix itself never imports TensorFlow."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.common import PIPELINES, PYTHON, ROOT, bench_env

CHECK_TIMEOUT = 180.0  # one checker answer
PROTO = "@@crash "  # the checker's answer lines (TensorFlow may print on stdout too)


# -- the checker child: TensorFlow imported once, bundles loaded on request ----------------------------------
def checker_main() -> int:
    """Read one JSON request a line from stdin, answer one ``PROTO`` JSON line on stdout."""
    import contextlib as cl
    import io

    from autosearch.cli import main as cli_main
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data
    from autosearch.export.predictor import load

    x = prepare_data(load_pipeline(PIPELINES / "structured.toml")).raw_x("test")
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever else prints goes to stderr

    def answer(obj: Mapping[str, Any]) -> None:
        out.write(PROTO + json.dumps(obj) + "\n")
        out.flush()

    answer({"ok": True, "ready": True, "rows": len(x)})
    for line in sys.stdin:
        t = time.perf_counter()
        try:
            req = json.loads(line)
            if req["op"] == "bundle":
                p = load(req["path"])
                y = p.predict(x)
                classes = set(p.class_names or [])
                ok = len(y) == len(x) and (not classes or set(map(str, y)) <= set(map(str, classes)))
                res = {"ok": bool(ok), "format": p.format, "trial_id": p.manifest.get("trial_id"),
                       "run_id": p.manifest.get("run_id"), "created_at": p.manifest.get("created_at"),
                       "rows": int(len(y))}
                if not ok:
                    res["error"] = f"predictions {list(y[:5])} outside {sorted(classes)} or {len(y)} != {len(x)} rows"
                del p
                with cl.suppress(Exception):
                    import keras

                    keras.backend.clear_session()
            elif req["op"] == "runs":  # `autosearch runs --format json`, in this process
                buf = io.StringIO()
                with cl.redirect_stdout(buf):
                    code = cli_main(["runs", "--format", "json"])
                text = buf.getvalue().strip()
                res = {"ok": code == 0, "runs": json.loads(text) if text.startswith("[") else [], "code": code}
            else:
                res = {"ok": False, "error": f"unknown op {req['op']!r}"}
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            res = {"ok": False, "error": " ".join(f"{type(exc).__name__}: {exc}".split())[:500]}
        res["seconds"] = time.perf_counter() - t
        answer(res)
    return 0


class Checker:
    """The long-lived checker child; every answer waited for with a deadline, restarted after a timeout."""

    def __init__(self, home: Path, log_path: Path):
        self.home, self.log_path = home, log_path
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.starts = 0

    def start(self) -> None:
        self.stop()
        self.lines = queue.Queue()
        err = open(self.log_path, "a")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen([PYTHON, "-m", "benchmarks.crash_checker"], cwd=ROOT, env=bench_env(self.home),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                     start_new_session=True)
        err.close()
        self.starts += 1
        lines, stdout = self.lines, self.proc.stdout

        def pump() -> None:
            for line in stdout:
                if line.startswith(PROTO):
                    lines.put(line[len(PROTO):])
            lines.put(None)

        threading.Thread(target=pump, name="crash-checker", daemon=True).start()
        ready = self._answer(CHECK_TIMEOUT)
        if not ready.get("ready"):
            raise RuntimeError(f"the checker did not start: {ready}; see {self.log_path}")

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            return {"ok": False, "error": f"no answer within {timeout:.0f} s (checker restarted)"}
        if line is None:
            self.stop()
            return {"ok": False, "error": f"the checker exited; see {self.log_path}"}
        return json.loads(line)

    def ask(self, **req: Any) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.stop()
            return {"ok": False, "error": f"checker: {exc}"}
        return self._answer(CHECK_TIMEOUT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(checker_main())
