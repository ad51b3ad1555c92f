"""Records written by release 0.1.0 (tests/fixtures/release-0.1.0) still open with today's code.

The fixture is a whole AUTOSEARCH_HOME from a real search (see its README.md): the tracker database, the run
folder and its bundle. Every later release must read it as it is; a record from a newer format is refused in
one line naming the upgrade.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from autosearch.tracking import RunStatus, TrialState
from autosearch.tracking.sqlite import SQLiteTracker

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release-0.1.0"
RUN_ID = "20261203-151205-42b0"
BEST = f"{RUN_ID}/0"
BUNDLE = f"runs/{RUN_ID}/export"


@pytest.fixture
def old_home(home: Path) -> Path:
    """A copy of the 0.1.0 home where the ``cli`` fixture looks (the fixture itself stays untouched)."""
    shutil.copytree(FIXTURE, home)
    return home


def test_the_fixture_is_a_checkpointed_database_and_a_small_run_folder() -> None:
    assert not list(FIXTURE.glob("tracker.db-*"))  # no -wal / -shm: everything is in tracker.db
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 2_000_000


def test_the_0_1_0_run_and_trials_read_back_with_their_values(old_home: Path) -> None:
    tracker = SQLiteTracker(old_home / "tracker.db")
    try:
        run = tracker.get_run(RUN_ID)
        assert (run.status, run.pipeline, run.task, run.dataset, run.best_trial_id) == (
            RunStatus.COMPLETED, "structured", "structured_classification", "breast_cancer", BEST)
        assert run.fingerprint == "9d6ef928b5a9b17f6bb4770bec33a72921d5c8dedb47b74dbb6ef89bdd5c2a2b"
        outcome = run.outcome  # the stored summary, typed
        assert (outcome.bundle, outcome.run_dir, outcome.n_trials) == (BUNDLE, f"runs/{RUN_ID}", 1)
        assert (run.bundle, run.run_dir) == (old_home / BUNDLE, old_home / "runs" / RUN_ID)
        assert outcome.scores == {"metric": "accuracy", "test": 0.4, "validation": 0.4}
        assert (outcome.best_objective, outcome.fitted, outcome.error) == (0.4000000059604645, {}, None)
        assert run.duration == pytest.approx(14.990594685999895)
        assert [(w["model"], w["test"]) for w in outcome.baselines_won] == [
            ("gradient boosting (scikit-learn)", 0.925), ("always predicts benign", 0.625)]
        assert set(run.artifacts) == {"bundle", "manifest", "report"} and outcome.other == {}
        trials = {t.trial_id: t for t in tracker.list_trials(RUN_ID)}
        assert sorted(trials) == sorted([BEST, f"{RUN_ID}/baseline-majority", f"{RUN_ID}/baseline-gradient_boosting"])
        best = trials[BEST]
        assert (best.kind, best.state, best.objective) == ("search", TrialState.COMPLETED, 0.4000000059604645)
        assert trials[f"{RUN_ID}/baseline-gradient_boosting"].objective == 0.85
        assert len(tracker.get_trial(BEST).epochs) == 1
    finally:
        tracker.close()


def test_runs_leaderboard_and_report_open_the_0_1_0_home(old_home: Path, cli) -> None:
    runs = cli("runs")
    assert runs.code == 0, runs.err
    assert RUN_ID in runs.out and "COMPLETED" in runs.out
    board = cli("leaderboard", RUN_ID, "--format", "json")
    assert board.code == 0, board.err
    rows = {r["trial_id"]: r for r in json.loads(board.out)}
    assert rows[BEST]["objective"] == pytest.approx(0.4) and rows[BEST]["state"] == "COMPLETED"
    assert rows[BEST]["test_score"] == pytest.approx(0.4) and rows[BEST]["rank"] == 1
    out = old_home / "old-report"
    report = cli("report", RUN_ID, "--out", str(out))
    assert report.code == 0, report.err
    html = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert RUN_ID in html and "breast_cancer" in html


def test_the_0_1_0_bundle_predicts_what_the_search_recorded(old_home: Path) -> None:
    import pandas as pd

    import autosearch

    predictor = autosearch.load(old_home / BUNDLE)
    with open(old_home / "runs" / RUN_ID / "predictions" / "test.csv", encoding="utf-8") as fh:
        recorded = list(csv.DictReader(fh))[:5]
    rows = pd.read_csv(old_home / "rows.csv")  # the inputs of those five test rows, as the search read them
    proba = predictor.predict_proba(rows)
    expected = [float(r[column]) for r in recorded for column in ("p_malignant", "p_benign")]
    assert proba.ravel().tolist() == pytest.approx(expected, abs=1e-5)
    assert list(predictor.predict(rows)) == [r["y_pred"] for r in recorded]


def test_a_tracker_from_a_newer_release_is_refused_in_one_line(old_home: Path, cli) -> None:
    conn = sqlite3.connect(old_home / "tracker.db")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    result = cli("runs")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "was written by a newer autosearch (schema 99 > " in result.err
    assert "upgrade autosearch" in result.err


def test_a_bundle_from_a_newer_release_is_refused_in_one_line(old_home: Path, cli) -> None:
    manifest_path = old_home / BUNDLE / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    rows = old_home / "rows.csv"
    rows.write_text("a\n1\n", encoding="utf-8")
    result = cli("predict", str(old_home / BUNDLE), "--input", str(rows), "--output", str(old_home / "out.csv"))
    assert result.code == 2
    assert result.err.count("\n") == 1 and "bundle format 99 is newer than this autosearch reads" in result.err
    assert "upgrade autosearch" in result.err and not (old_home / "out.csv").exists()


def _set_recorded_max_rows(home: Path, max_rows: int) -> None:
    SQLiteTracker(home / "tracker.db").close()  # upgraded (its one note), as the first command today does it
    conn = sqlite3.connect(home / "tracker.db")
    config = json.loads(conn.execute("SELECT config FROM runs WHERE run_id=?", (RUN_ID,)).fetchone()[0])
    config["data"]["max_rows"] = max_rows
    conn.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(config), RUN_ID))
    conn.commit()
    conn.close()


def test_today_exports_the_0_1_0_run_with_the_scores_it_recorded(old_home: Path, cli) -> None:
    out = old_home / "again"
    result = cli("export", RUN_ID, "--out", str(out))
    assert result.code == 0, result.err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["trial_id"] == BEST and manifest["scores"]["test"] == pytest.approx(0.4)
    assert manifest["data_fingerprint"] == "9d6ef928b5a9b17f6bb4770bec33a72921d5c8dedb47b74dbb6ef89bdd5c2a2b"


def test_export_refuses_a_run_whose_data_changed_in_one_line_naming_run_fingerprints_and_fix(old_home: Path,
                                                                                             cli) -> None:
    _set_recorded_max_rows(old_home, 150)  # the rows read now are no longer the rows the search read
    out = old_home / "again"
    result = cli("export", RUN_ID, "--out", str(out))
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"DataError: the data of run {RUN_ID} changed since it was recorded (fingerprint now ")
    assert "recorded 9d6ef928b5a9…); restore it to export this run." in result.err
    assert not out.exists()


def test_today_reproduces_the_0_1_0_best_trial_and_exports_its_bundle(old_home: Path, cli) -> None:
    result = cli("reproduce", BEST, "--export")
    assert result.code in (0, 1), result.err[-2000:]  # 1: it does not hold (another TensorFlow may train otherwise)
    bundle = old_home / "runs" / RUN_ID / "reproductions" / "0-r1" / "export"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["trial_id"] == f"{BEST}-r1" and set(manifest["scores"]) == {"metric", "validation", "test"}


def test_reproduce_refuses_changed_data_in_the_same_one_line(old_home: Path, cli) -> None:
    _set_recorded_max_rows(old_home, 150)
    result = cli("reproduce", BEST)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"DataError: the data of run {RUN_ID} changed since it was recorded (fingerprint now ")
    assert "recorded 9d6ef928b5a9…); restore it, or pass --allow-data-change" in result.err
    assert not (old_home / "runs" / RUN_ID / "reproductions").exists()


def test_resume_refuses_changed_data_in_the_same_one_line(old_home: Path, cli) -> None:
    _set_recorded_max_rows(old_home, 150)
    conn = sqlite3.connect(old_home / "tracker.db")
    conn.execute("UPDATE runs SET status='INTERRUPTED' WHERE run_id=?", (RUN_ID,))
    conn.commit()
    conn.close()
    result = cli("resume", RUN_ID)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"DataError: the data of run {RUN_ID} changed since it was recorded (fingerprint now ")
    assert "recorded 9d6ef928b5a9…); restore it to resume, or start a new search." in result.err
    tracker = SQLiteTracker(old_home / "tracker.db")
    assert tracker.get_run(RUN_ID).status is RunStatus.INTERRUPTED  # nothing was restarted
    tracker.close()
