"""The command line: bad input gets one clear line, exit code 2 and no trace in the tracker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT


def reviews(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"a {'good' if i % 2 else 'bad'} film, number {i}" for i in range(n)],
                         "label": ["pos" if i % 2 else "neg" for i in range(n)]})


def csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


BAD_INPUTS = {
    "unknown task": (lambda t: ["--pipeline", "video"], ["pipeline file 'pipelines/video.toml' not found",
                                                         "known pipelines: image, structured"]),
    "missing file": (lambda t: ["--data", str(t / "nope.csv")], ["nope.csv' not found"]),
    "missing text column": (lambda t: ["--data", csv(t, reviews())], ["no text column", "--text-column"]),
    "unknown column": (lambda t: ["--data", csv(t, reviews()), "--text-column", "body"],
                       ["no column 'body'", "columns are: review, label"]),
    "unknown label column": (lambda t: ["--data", csv(t, reviews()), "--text-column", "review",
                                        "--label-column", "stars"], ["no column 'stars'"]),
    "single class": (lambda t: ["--data", csv(t, reviews().assign(label="pos")), "--text-column", "review"],
                     ["single class 'pos'"]),
    "too few rows": (lambda t: ["--data", csv(t, reviews(10)), "--text-column", "review"],
                     ["too few rows (10)"]),
    "empty texts": (lambda t: ["--data", csv(t, reviews().assign(review=lambda f: f.review.where(f.index > 1))),
                               "--text-column", "review"], ["2 empty texts", "rows [1, 2]"]),
    "non-numeric regression target": (
        lambda t: ["--pipeline", "structured_regression",
                   "--data", csv(t, pd.DataFrame({"x": range(40), "label": ["3.5"] * 39 + ["high"]}))],
        ["non-numeric", "'high'"]),
    "bad override": (lambda t: ["--tuner", "grid"], ["search.tuner = 'grid'", "greedy, bayesian"]),
    "bad tracker uri": (lambda t: ["--max-rows", "300", "--tracker", "mongodb://x"], ["valid schemes: clearml://, sqlite://"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_leaves_the_tracker_untouched(case: str, cli, home: Path,
                                                                          tmp_path: Path) -> None:
    make_args, words = BAD_INPUTS[case]
    res = cli("search", *make_args(tmp_path))
    assert res.code == 2, res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    for word in words:
        assert word in lines[0]
    assert not (home / "tracker.db").exists() and not (home / "runs").exists()


def test_debug_flag_shows_the_traceback(cli) -> None:
    res = cli("--debug", "search", "--tuner", "grid")
    assert res.code == 2 and "Traceback" in res.err


def test_help_and_validation_do_not_import_tensorflow() -> None:
    code = ("import sys, autosearch, autosearch.cli;"
            "from autosearch.data import prepare_data;"
            "prepare_data(autosearch.load_pipeline('pipelines/structured.toml'));"
            "print(sorted(m for m in ('tensorflow', 'keras', 'autokeras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "autosearch", "search", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0 and "--max-trials" in res.stdout
    assert "tensorflow" not in res.stderr
