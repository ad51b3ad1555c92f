"""The command line: --debug tracebacks, and --help and validation without TensorFlow."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

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
