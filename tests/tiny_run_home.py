"""One tiny real search, made once per test session, that the view, label and README tests read from copies.

The text pipeline on 300 rows, 2 trials of 1 epoch, ensembles off, every trial's checkpoint kept (so ``gc``
has something to clean), labelled with ``--name``, ``--note`` and ``--tag`` from the command line, at
``COLUMNS=120``. Made once (about a minute on a busy machine), then each module copies the home
(``copy_home``): the tracker records run directories relative to the home, so a copy is self-contained, and
what one module deletes or adds no other sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT

NAME, NOTE, TAGS = "tiny text", "made once for the tests\nsecond line", {"team": "tests", "tiny": ""}
WIDTH = 120  # COLUMNS the search ran under


@dataclass(frozen=True)
class TinyRun:
    home: Path  # an AUTOSEARCH_HOME holding the one run
    run_id: str
    stdout: str  # what the search printed


_made: dict[str, TinyRun] = {}


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore", "AUTOSEARCH_CV_BELOW_ROWS": "0",
           **extra}
    env.pop("AUTOSEARCH_TRACKING_URI", None)
    return env


def cli(home: Path, *args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    """``python -m autosearch ARGS`` on ``home``, from the repository root."""
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env_for(home, **extra),
                          capture_output=True, text=True, timeout=timeout)


def _make(base: Path) -> TinyRun:
    pipeline = base / "text_all_checkpoints.toml"
    text = (PIPELINES / "text.toml").read_text()
    assert "\n[search]\n" in text and "checkpoints" not in text
    pipeline.write_text(text.replace("\n[search]\n", '\n[search]\ncheckpoints = "all"\n', 1))
    home = base / "home"
    tags = [a for k, v in TAGS.items() for a in ("--tag", f"{k}={v}" if v else k)]
    res = cli(home, "search", "--pipeline", str(pipeline), "--max-rows", "300", "--max-trials", "2", "--epochs",
              "1", "--ensemble", "off", "--name", NAME, "--note", NOTE, *tags, COLUMNS=str(WIDTH))
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = (home / "runs").iterdir()
    return TinyRun(home, run_dir.name, res.stdout)


def tiny_run(factory: pytest.TempPathFactory) -> TinyRun:
    """The session's tiny run (searched on first use); read it, do not change it: ``copy_home`` for that."""
    if "run" not in _made:
        _made["run"] = _make(factory.mktemp("tiny_run"))
    return _made["run"]


def copy_home(factory: pytest.TempPathFactory, dest: Path | None = None) -> TinyRun:
    """A copy of the tiny run's home (at ``dest``, or in a new temporary folder) to read and change."""
    made = tiny_run(factory)
    target = dest or factory.mktemp("tiny_copy") / "home"
    shutil.copytree(made.home, target)
    return TinyRun(target, made.run_id, made.stdout)
