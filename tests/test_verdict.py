"""An honest ending: when a baseline beats the search on test, the run's last lines and its record say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search


def test_a_baseline_that_beats_the_search_is_named_in_the_last_lines_and_the_record(cli, home: Path,
                                                                                  tmp_path: Path) -> None:
    # One epoch at a learning rate of 1e-5 leaves the network near chance; gradient boosting is not.
    pipeline = tmp_path / "starved.toml"
    pipeline.write_text(Path("autosearch/pipelines/structured.toml").read_text().replace(
        "learning_rate = [0.001, 0.01]", "learning_rate = 0.00001"))
    res = cli("search", "--pipeline", str(pipeline), "--max-trials", "1", "--epochs", "1", "-q")
    assert res.code == 0, res.err[-2000:]
    tail = res.out.strip().splitlines()[-1]
    assert tail.startswith("Verdict: the baseline gradient boosting (scikit-learn) is better on test")
    assert "A baseline beat the search on test: gradient boosting" in res.out
    run = SQLiteTracker(home / "tracker.db").list_runs()[0]
    (won,) = [w for w in run.summary["baselines_won"] if "gradient" in w["model"]]
    assert won["test"] > won["best_trial_test"] == run.scores["test"]
    rows = json.loads(cli("leaderboard", "--format", "json").out)
    baseline = next(r for r in rows if r["trial_id"].endswith("baseline-gradient_boosting"))
    assert baseline["test_score"] == won["test"] and baseline["validation_score"] is not None
    header = cli("leaderboard").out.splitlines()[0]
    assert "baseline gradient boosting (scikit-learn) beat the search on test" in header
