"""The command line: --debug tracebacks, --help and validation without TensorFlow, and the shipped pipelines,
`autosearch pipelines` and --version from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT

import autosearch

# The bad inputs of `autosearch search` (one line, exit 2, no trace in the tracker) are in
# tests/test_bad_inputs.py.


def test_debug_flag_shows_the_traceback(cli) -> None:
    res = cli("--debug", "search", "--tuner", "grid")
    assert res.code == 2 and "Traceback" in res.err


def test_help_and_validation_do_not_import_tensorflow() -> None:
    code = ("import sys, autosearch, autosearch.cli;"
            "from autosearch.data import prepare_data;"
            "prepare_data(autosearch.load_pipeline('structured'));"
            "print(sorted(m for m in ('tensorflow', 'keras', 'autokeras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "autosearch", "search", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0 and "--max-trials" in res.stdout
    assert "tensorflow" not in res.stderr


def test_an_empty_leaderboard_advises_a_command_a_console_script_user_can_run(cli) -> None:
    res = cli("leaderboard", timeout=120)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "run a search first ('autosearch search --pipeline text')" in res.err and "make " not in res.err


# -- the package runs from any directory (issue 22, item 4); the search itself: tests/test_package.py -----------
BLOCKED = "import sys; sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'autokeras'], None))\n"


def _main(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``autosearch ARGS`` from an empty folder, in a process where importing TensorFlow, Keras or AutoKeras
    fails (so a command that needs none of them is shown not to import them)."""
    code = BLOCKED + f"from autosearch.cli import main\nsys.exit(main({list(args)!r}))"
    env = {**os.environ, "AUTOSEARCH_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_pipelines_lists_each_shipped_pipeline_with_its_task_and_data_without_tensorflow(tmp_path: Path) -> None:
    out = _main(tmp_path, "pipelines")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {row[0]: row for row in (line.replace(" (default)", "").split() for line in out.stdout.splitlines()) if row}
    for path in PIPELINES.glob("*.toml"):
        raw = tomllib.loads(path.read_text())
        assert lines[path.stem][1:3] == [raw["task"], raw["data"]["dataset"]], out.stdout
    assert "text (default)" in out.stdout and f"Shipped in {PIPELINES}" in out.stdout


def test_version_names_the_installed_version_without_tensorflow(tmp_path: Path) -> None:
    out = _main(tmp_path, "--version")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"autosearch {autosearch.__version__} from {ROOT / 'autosearch'} (Python 3.")
    assert "tensorflow 2." in out.stdout and "keras 3." in out.stdout


@pytest.mark.parametrize("pipeline", [None, "text"])
def test_search_reads_the_shipped_text_pipeline_from_any_directory(pipeline: str | None, tmp_path: Path) -> None:
    (tmp_path / "text").mkdir()  # a folder named like the pipeline does not hide it
    args = ["search", *(["--pipeline", pipeline] if pipeline else []), "--max-trials", "0"]
    out = _main(tmp_path, *args)  # refused by validation, after the pipeline was found and read
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]
    assert f"{PIPELINES / 'text.toml'}: search.max_trials = 0 must be at least 1" in out.stderr


def test_a_users_pipeline_is_read_from_its_path_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "text.toml").write_text((PIPELINES / "text.toml").read_text().replace("max_trials = 10",
                                                                                              "max_trials = 0"))
    out = _main(tmp_path, "search", "--pipeline", "mine/text.toml")
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip() == "ConfigError: mine/text.toml: search.max_trials = 0 must be at least 1."
