"""Shared fixtures: an isolated AUTOSEARCH_HOME and a CLI runner in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "autosearch" / "pipelines"

try:  # psycopg's libpq and OpenSSL bound to each other, before any test loads TensorFlow (its BoringSSL symbols
    from autosearch.tracking.sqlpostgres import import_psycopg  # made libpq abort the whole test run at the

    import_psycopg()  # first SSL connection once a test had loaded TensorFlow first)
except ImportError:
    pass  # no psycopg: the PostgreSQL tests say so (tests/pgserver.py)


# Every test search, in this process or a child (which inherits the environment), module-scoped fixtures
# included: on the tests' small data sets, cross-validation adds five fold fits per trial that prove nothing to
# a test about something else (a 3-trial structured search: 117 s -> 20 s). A test about it unsets the variable
# (tests/test_selection.py).
TEST_DEFAULTS = {"AUTOSEARCH_CV_BELOW_ROWS": "0"}


@pytest.fixture(scope="session", autouse=True)
def test_defaults():
    """``TEST_DEFAULTS`` in the environment for the whole session, set before any other fixture runs."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_DEFAULTS.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AUTOSEARCH_HOME for this test; the default tracker lives inside it. Its searches select on
    holdout (``TEST_DEFAULTS``)."""
    home = tmp_path / "home"
    monkeypatch.setenv("AUTOSEARCH_HOME", str(home))
    monkeypatch.delenv("AUTOSEARCH_TRACKING_URI", raising=False)
    return home


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(home: Path):
    """Run ``python -m autosearch ARGS`` in a new process, from the repository root."""

    def run(*args: str, timeout: float = 600) -> CliResult:
        env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
