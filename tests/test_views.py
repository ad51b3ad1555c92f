"""Leaderboards, runs, compare and clean-up, read from a tracker filled by a real tiny search."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

import autosearch
from autosearch.config import load_pipeline
from autosearch.errors import ViewError
from autosearch.tracking import TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.compare import compare
from autosearch.views.leaderboard import leaderboard
from autosearch.views.runs import runs_frame
from autosearch.workflows.search import run_search


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory):
    """A home whose tracker holds one real 3-trial search, plus one FAILED trial added to it."""
    home = tmp_path_factory.mktemp("views_home")
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = load_pipeline(PIPELINES / "structured.toml", {"search.max_trials": 3, "search.epochs": 2})
    result = run_search(cfg, tracker, home, export=False)
    tracker.log_trial(TrialRecord(trial_id=f"{result.run_id}/99", run_id=result.run_id, kind=TrialKind.SEARCH,
                                  state=TrialState.RUNNING, hyperparameters={"table_block/units": 7}, seed=1,
                                  started_at=1.0))
    tracker.finish_trial(f"{result.run_id}/99", TrialState.FAILED, ended_at=2.0, error="ResourceExhaustedError: OOM")
    return home, tracker, result


def test_leaderboard_rows_match_the_tracker(filled) -> None:
    _, tracker, result = filled
    frame = autosearch.leaderboard(tracker=tracker)
    stored = {t.trial_id: t for t in tracker.list_trials(result.run_id)}
    assert set(frame["trial_id"]) == set(stored)
    for row in frame.itertuples():
        t = stored[row.trial_id]
        assert row.state == t.state.value and row.kind == t.kind.value
        assert (pd.isna(row.objective) and t.objective is None) or row.objective == t.objective
        assert row.duration_s == pytest.approx(t.duration)
    search = frame[(frame.kind == "search") & (frame.state == "COMPLETED")]
    assert list(search["rank"]) == [1, 2, 3]
    assert list(search["objective"]) == sorted(search["objective"], reverse=True)
    assert {"hp.table_block/units", "hp.learning_rate"} <= set(frame.columns)
    assert (frame.loc[frame.kind == "search", "peak_rss_mb"].dropna() > 0).all()


def test_failed_trials_come_under_completed_with_their_error(filled) -> None:
    frame = autosearch.leaderboard(tracker=filled[1])
    last = frame.iloc[-1]
    assert last["state"] == "FAILED" and "OOM" in last["error"] and pd.isna(last["rank"])
    assert (frame.iloc[:-1]["state"] == "COMPLETED").all()


def test_baselines_are_marked_and_never_best(filled) -> None:
    _, tracker, result = filled
    frame = autosearch.leaderboard(tracker=tracker, kind="baseline")
    assert set(frame["trial_id"]) == {f"{result.run_id}/baseline-majority", f"{result.run_id}/baseline-gradient_boosting"}
    assert frame["rank"].isna().all()
    assert not tracker.get_run(result.run_id).best_trial_id.split("/")[1].startswith("baseline")


def test_filters_sort_and_top(filled) -> None:
    tracker = filled[1]
    assert set(leaderboard(tracker=tracker, status="failed")["state"]) == {"FAILED"}
    by_time = leaderboard(tracker=tracker, kind="search", status="completed", sort="-duration_s")
    assert list(by_time["duration_s"]) == sorted(by_time["duration_s"], reverse=True)
    assert len(leaderboard(tracker=tracker, top=2)) == 2
    for top in (1, 2, 4, 10):  # the tracker reads only the first rows: they are the full leaderboard's
        pd.testing.assert_frame_equal(leaderboard(tracker=tracker, top=top), leaderboard(tracker=tracker).head(top),
                                      check_dtype=False)
    with pytest.raises(ViewError, match="--sort 'nope' is not a column"):
        leaderboard(tracker=tracker, sort="nope")
    with pytest.raises(ViewError, match="--kind 'magic'.*search, baseline, reproduction"):
        leaderboard(tracker=tracker, kind="magic")


def test_trials_gives_epoch_histories_in_long_form(filled) -> None:
    _, tracker, result = filled
    long = autosearch.trials(tracker=tracker)
    expected = sum(len(e.metrics) for t in tracker.list_trials(result.run_id, with_epochs=True) for e in t.epochs)
    assert len(long) == expected and set(long.columns) == {"run_id", "trial_id", "kind", "epoch", "metric", "value"}
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(long["metric"])


def cli(home: Path, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "autosearch", *args], cwd=ROOT, capture_output=True,
                          text=True, env={"AUTOSEARCH_HOME": str(home), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_parse_back_to_the_same_values(filled, fmt: str) -> None:
    home, tracker, _ = filled
    res = cli(home, "leaderboard", "--format", fmt)
    assert res.returncode == 0, res.stderr
    parsed = pd.read_csv(io.StringIO(res.stdout)) if fmt == "csv" else pd.DataFrame(json.loads(res.stdout))
    frame = autosearch.leaderboard(tracker=tracker)
    assert list(parsed["trial_id"]) == list(frame["trial_id"])
    for col in ("objective", "duration_s", "trainable_params", "best_epoch"):
        pd.testing.assert_series_equal(parsed[col].astype(float), frame[col].astype(float), check_names=False)
    assert list(pd.to_datetime(parsed["started_at"], utc=True)) == list(frame["started_at"])


@pytest.mark.parametrize("command", [["leaderboard"], ["runs"], ["compare", "A", "B"], ["leaderboard", "--all-runs"]])
def test_views_do_not_import_tensorflow(filled, command: list[str]) -> None:
    home, tracker, result = filled
    args = [result.run_id + "/0", result.run_id + "/1"] if command[0] == "compare" else command[1:]
    res = cli(home, command[0], *args, importtime=True)
    assert res.returncode == 0, res.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert "tensorflow" not in imported and "keras" not in imported and "autokeras" not in imported
    if command[0] in ("leaderboard", "runs"):  # the terminal tables are plain rows: pandas alone costs 0.27 s
        assert "pandas" not in imported and "numpy" not in imported


def test_compare_two_trials_shows_differences_and_the_data_match(filled) -> None:
    _, tracker, result = filled
    out = compare(tracker, f"{result.run_id}/0", f"{result.run_id}/1")
    assert out["kind"] == "trials" and out["same_data"]
    a, b = tracker.get_trial(f"{result.run_id}/0"), tracker.get_trial(f"{result.run_id}/1")
    assert out["differences"] == {k: (a.hyperparameters.get(k), b.hyperparameters.get(k))
                                  for k in set(a.hyperparameters) | set(b.hyperparameters)
                                  if a.hyperparameters.get(k) != b.hyperparameters.get(k)}
    assert out["metrics"]["objective"] == (a.objective, b.objective)
    with pytest.raises(ViewError, match="two trial ids or two run ids"):
        compare(tracker, result.run_id, f"{result.run_id}/0")


def test_runs_lists_the_run_with_its_trials_and_disk_use(filled) -> None:
    _, tracker, result = filled
    row = runs_frame(tracker).set_index("run_id").loc[result.run_id]
    assert row["trials"] == 4 and row["status"] == "COMPLETED" and row["disk_mb"] > 0


def test_gc_keep_best_and_rm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = load_pipeline(PIPELINES / "structured.toml", {"search.max_trials": 2, "search.epochs": 1,
                                                        "search.baselines": False, "search.checkpoints": "all"})
    result = run_search(cfg, tracker, home, export=False)
    ckpts = sorted((result.run_dir / "autokeras").glob("trial_*/checkpoint.weights.h5"))
    assert len(ckpts) == 2
    res = cli(home, "gc", "--keep-best")
    assert res.returncode == 2 and "--yes" in res.stderr  # no terminal: refuses without --yes
    assert cli(home, "gc", "--keep-best", "--yes").returncode == 0
    best = result.best_trial_id.split("/")[1]
    assert [p.parent.name for p in result.run_dir.glob("autokeras/trial_*/checkpoint.weights.h5")] == [f"trial_{best}"]
    assert cli(home, "rm", result.run_id, "--yes").returncode == 0
    assert not result.run_dir.exists() and tracker.list_runs() == []
    assert tracker.find_trials() == []
    res = cli(home, "rm", "nope", "--yes")
    assert res.returncode == 2 and "run 'nope' not found" in res.stderr
