"""Where autosearch keeps its files, and what a run ran on: package versions, git state and machine.

Read through package metadata, never by importing TensorFlow, so that the
record costs milliseconds. The ground floor: every stage may import it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "autokeras", "keras-tuner", "numpy", "pandas",
            "scikit-learn", "clearml", "autosearch")


def autosearch_home() -> Path:
    """Where the tracker database and run directories live (``AUTOSEARCH_HOME``, default ``./artifacts``)."""
    return Path(os.environ.get("AUTOSEARCH_HOME") or "artifacts")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out.get("tensorflow") is None:
        out["tensorflow"] = out.pop("tensorflow-cpu")
    else:
        out.pop("tensorflow-cpu")
    return out


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    cwd = cwd or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


def machine() -> dict[str, Any]:
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "ram_bytes": ram,
        "python_executable": sys.executable,
    }


def environment() -> dict[str, Any]:
    return {"versions": package_versions(), "git": git_state(), "machine": machine()}
