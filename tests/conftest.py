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


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AUTOSEARCH_HOME for this test; the default tracker lives inside it. Its searches select on
    holdout (``AUTOSEARCH_CV_BELOW_ROWS=0``): the tests' small data sets would be cross-validated, five more
    fits per trial that prove nothing to a test about something else; tests/test_selection.py proves the
    cross-validation, unsetting it."""
    home = tmp_path / "home"
    monkeypatch.setenv("AUTOSEARCH_HOME", str(home))
    monkeypatch.setenv("AUTOSEARCH_CV_BELOW_ROWS", "0")
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
