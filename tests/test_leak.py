"""Secrets never leak: a distributed search (a chief and a worker, two trials),
its report and leaderboard, a search whose trial fails and two refusals run against a PostgreSQL tracker whose password holds ``@:/%``
(and an ``sslpassword``), with a chief token. Then every file the run wrote, every row of the tracker and all
the output are searched for the secrets, plain and URL-encoded, and the command lines of every process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conftest import ROOT

pytestmark = pytest.mark.search
PASSWORD = f"p@ss:w/rd%9{secrets.token_hex(4)}"
SSLPASSWORD = f"k3y/{secrets.token_hex(4)}"
TOKEN = f"chief-{secrets.token_urlsafe(24)}"


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def pipeline(tmp_path: Path, layers: int, max_trials: int) -> Path:
    """A table MLP (tests/failing_spaces.py) whose block raises when it has more than one layer."""
    path = tmp_path / f"leaky{layers}.toml"
    path.write_text('name = "leaky"\ntask = "structured_classification"\n[data]\ndataset = "breast_cancer"\n'
                    f'max_rows = 300\n[search]\nspace = "failing_spaces:raising"\nmax_trials = {max_trials}\n'
                    'epochs = 1\npatience = 0\nensemble = "off"\nbaselines = false\nobjective = "val_accuracy"\n'
                    f'direction = "max"\n[space]\nlayers = {layers}\n')
    return path


class CommandLines:
    """The command lines of the processes autosearch starts (this process's descendants but the commands the
    test typed, whose ``--tracker`` is the user's own choice), sampled until stopped."""

    def __init__(self) -> None:
        import psutil

        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._me = psutil.Process()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            everyone = self._me.children(recursive=True)
            typed = {child.pid for child in self._me.children()}  # after: a typed command seen above is in here
            for child in everyone:
                if child.pid in typed:
                    continue
                try:
                    self.seen.add(" ".join(child.cmdline()))
                except Exception:  # noqa: BLE001 - it ended meanwhile
                    pass

    def stop(self) -> set[str]:
        self._stop.set()
        return self.seen


def tracker_rows(server, database: str) -> str:
    tables = server.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database).split()
    assert {"runs", "trials"} <= set(tables)
    return "\n".join(server.psql(f'SELECT row_to_json(t)::text FROM "{name}" t', database) for name in tables)


def test_no_password_or_token_reaches_a_file_a_row_an_output_or_a_command_line(home: Path, tmp_path: Path) -> None:
    from pgserver import PostgresServer, require_postgres

    with PostgresServer(require_postgres()) as server:
        server.psql(f"CREATE ROLE leaky LOGIN PASSWORD '{PASSWORD}'")
        server.psql("CREATE DATABASE leakdb OWNER leaky")
        uri = (f"postgresql://leaky:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}/leakdb"
               f"?sslmode=require&sslpassword={quote(SSLPASSWORD, safe='')}")
        environ = {**os.environ, "AUTOSEARCH_HOME": str(home), "AUTOSEARCH_CHIEF_TOKEN": TOKEN,
                   "PYTHONPATH": str(ROOT / "tests"), "PYTHONWARNINGS": "ignore"}
        environ.pop("AUTOSEARCH_TRACKING_URI", None)
        out: list[str] = []

        def run(*args: str, code: int = 0) -> None:
            res = subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=tmp_path, env=environ,
                                 capture_output=True, text=True, timeout=600)
            out.append(res.stdout + res.stderr)
            assert res.returncode == code, f"{args}: {res.stderr[-3000:]} {res.stdout[-3000:]}"

        lines = CommandLines()
        run("search", "--pipeline", str(pipeline(tmp_path, 1, 2)), "--workers", "1", "--tracker", uri)
        run_id = next(line.split("--run ")[1].split()[0] for line in out[0].splitlines() if "--run " in line)
        run("search", "--pipeline", str(pipeline(tmp_path, 2, 1)), "--tracker", uri, code=2)  # its trial fails
        run("leaderboard", run_id, "--tracker", uri)
        run("report", run_id, "--out", str(tmp_path / "reports"), "--tracker", uri)
        run("leaderboard", "no-such-run", "--tracker", uri, code=2)  # an error naming the tracker
        run("runs", "--tracker", uri.replace(str(server.port), "1"), code=2)  # a connection refused
        seen = lines.stop()
        rows = tracker_rows(server, "leakdb")

    assert "FAILED" in rows and "COMPLETED" in rows and "fails on purpose" in rows, "a failed and a completed trial"
    assert any(f"postgresql://leaky:***@127.0.0.1:" in o for o in out), "the URI is shown, masked"
    written = {p: p.read_bytes().decode("utf-8", "replace") for root in (home, tmp_path / "reports")
               for p in root.rglob("*") if p.is_file()}
    assert any(p.name == "manifest.json" for p in written) and any(p.suffix == ".html" for p in written)
    places = {**{str(p): text for p, text in written.items()}, "tracker rows": rows, "output": "\n".join(out),
              "command lines": "\n".join(seen)}
    leaks = [(secret, where) for secret in forms(PASSWORD) | forms(SSLPASSWORD) | forms(TOKEN)
             for where, text in places.items() if secret in text]
    assert not leaks, [(secret, where, [line for line in places[where].splitlines() if secret in line][:2])
                       for secret, where in leaks]
    assert len(written) > 10 and len(seen) >= 2, "the search wrote its files; the chief and worker were seen"
