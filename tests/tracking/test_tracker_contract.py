"""The Tracker contract, run against every backend that can be read back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from autosearch.errors import (
    RecordError,
    TrackerError,
    TrialFinishedError,
    UnknownRunError,
    UnknownTrialError,
)
from autosearch.tracking import (
    EpochMetrics,
    RunInfo,
    RunStatus,
    Tracker,
    TrialKind,
    TrialRecord,
    TrialState,
    get_tracker,
)
from autosearch.tracking.composite import CompositeTracker
from autosearch.tracking.sqlite import SQLiteTracker

BACKENDS: dict[str, Callable[[Path], Tracker]] = {
    "sqlite": lambda tmp: SQLiteTracker(tmp / "tracker.db"),
    # writes fan out to a second real tracker, reads come from the first
    "composite": lambda tmp: CompositeTracker(SQLiteTracker(tmp / "tracker.db"), [SQLiteTracker(tmp / "mirror.db")]),
}


@pytest.fixture(params=sorted(BACKENDS))
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Tracker:
    t = BACKENDS[request.param](tmp_path)
    yield t
    t.close()


def make_run(run_id: str = "20261124-101500-a1b2", started_at: float = 1000.0) -> RunInfo:
    return RunInfo(run_id=run_id, pipeline="text", task="text_classification", dataset="rotten_tomatoes",
                   seed=0, started_at=started_at, config={"search": {"epochs": 2}},
                   data={"fingerprint": "abc", "rows": {"train": 10}}, environment={"versions": {"keras": "3.12"}})


def make_trial(trial_id: str = "20261124-101500-a1b2/0", run_id: str = "20261124-101500-a1b2",
               started_at: float = 1001.0) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, run_id=run_id, kind=TrialKind.SEARCH, state=TrialState.RUNNING,
                       hyperparameters={"learning_rate": 0.001, "text_block/dropout": 0.0}, seed=42,
                       started_at=started_at)


def test_run_round_trips_with_its_metadata(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    run = tracker.get_run("20261124-101500-a1b2")
    assert run == make_run()
    assert run.fingerprint == "abc"


def test_finish_run_sets_status_best_trial_and_merges_summary(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.finish_run("20261124-101500-a1b2", RunStatus.COMPLETED, ended_at=2000.0,
                       best_trial_id="20261124-101500-a1b2/0", summary={"test": 0.8})
    run = tracker.get_run("20261124-101500-a1b2")
    assert (run.status, run.ended_at, run.best_trial_id) == (RunStatus.COMPLETED, 2000.0, "20261124-101500-a1b2/0")
    assert run.summary == {"test": 0.8}


def test_duplicate_run_id_is_rejected(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    with pytest.raises(TrackerError, match="already exists"):
        tracker.start_run(make_run())


def test_unknown_run_raises_with_the_id(tracker: Tracker) -> None:
    with pytest.raises(UnknownRunError, match="nope"):
        tracker.get_run("nope")
    with pytest.raises(UnknownRunError):
        tracker.list_trials("nope")
    with pytest.raises(UnknownRunError):
        tracker.log_trial(make_trial(run_id="nope"))
    with pytest.raises(UnknownRunError):
        tracker.finish_run("nope", RunStatus.FAILED, ended_at=1.0)


def test_trial_records_epochs_and_final_result(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    for epoch, acc in enumerate([0.6, 0.7]):
        tracker.log_epoch("20261124-101500-a1b2/0", EpochMetrics(epoch, {"loss": 1 - acc, "val_accuracy": acc}, 5.0))
    tracker.finish_trial("20261124-101500-a1b2/0", TrialState.COMPLETED, ended_at=1011.0, objective=0.7,
                         best_epoch=1, trainable_params=1234)
    trial = tracker.get_trial("20261124-101500-a1b2/0")
    assert trial.state is TrialState.COMPLETED
    assert (trial.objective, trial.best_epoch, trial.trainable_params, trial.seed) == (0.7, 1, 1234, 42)
    assert trial.duration == pytest.approx(10.0)
    assert trial.hyperparameters == {"learning_rate": 0.001, "text_block/dropout": 0.0}
    assert [e.metrics["val_accuracy"] for e in trial.epochs] == [0.6, 0.7]
    assert tracker.get_trial("20261124-101500-a1b2/0", with_epochs=False).epochs == ()


def test_finished_trial_cannot_be_updated(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    tracker.finish_trial("20261124-101500-a1b2/0", TrialState.FAILED, ended_at=1002.0, error="boom")
    with pytest.raises(TrialFinishedError, match="read-only"):
        tracker.log_epoch("20261124-101500-a1b2/0", EpochMetrics(0, {"loss": 1.0}, 1.0))
    with pytest.raises(TrialFinishedError):
        tracker.finish_trial("20261124-101500-a1b2/0", TrialState.COMPLETED, ended_at=1003.0)
    trial = tracker.get_trial("20261124-101500-a1b2/0")
    assert (trial.state, trial.error, trial.epochs) == (TrialState.FAILED, "boom", ())


def test_finishing_as_running_is_a_value_error(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    with pytest.raises(ValueError):
        tracker.finish_trial("20261124-101500-a1b2/0", TrialState.RUNNING, ended_at=1.0)


def test_unknown_trial_error_names_the_id_and_how_to_list_ids(tracker: Tracker) -> None:
    with pytest.raises(UnknownTrialError) as info:
        tracker.get_trial("20261123-101500-a1b2/07")
    assert "20261123-101500-a1b2/07" in str(info.value) and "autosearch leaderboard" in str(info.value)
    with pytest.raises(UnknownTrialError):
        tracker.log_epoch("x/1", EpochMetrics(0, {}, 0.0))
    with pytest.raises(UnknownTrialError):
        tracker.finish_trial("x/1", TrialState.COMPLETED, ended_at=0.0)


def test_duplicate_trial_id_is_rejected(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    with pytest.raises(TrackerError, match="already exists"):
        tracker.log_trial(make_trial())


def test_lists_runs_newest_first_and_trials_in_start_order(tracker: Tracker) -> None:
    tracker.start_run(make_run("20261124-101500-aaaa", started_at=1.0))
    tracker.start_run(make_run("20261124-111500-bbbb", started_at=2.0))
    for i, t in [(1, 20.0), (0, 10.0)]:
        tracker.log_trial(make_trial(f"20261124-101500-aaaa/{i}", "20261124-101500-aaaa", started_at=t))
    assert [r.run_id for r in tracker.list_runs()] == ["20261124-111500-bbbb", "20261124-101500-aaaa"]
    assert [t.trial_id for t in tracker.list_trials("20261124-101500-aaaa")] == [
        "20261124-101500-aaaa/0", "20261124-101500-aaaa/1"]
    assert tracker.list_trials("20261124-111500-bbbb") == []


def test_artifacts_attach_to_a_run_and_a_new_path_replaces_the_old(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_artifact("20261124-101500-a1b2", "report", Path("/a/report.html"))
    tracker.log_artifact("20261124-101500-a1b2", "bundle", Path("/a/export"))
    tracker.log_artifact("20261124-101500-a1b2", "report", Path("/b/report.html"))
    assert tracker.get_run("20261124-101500-a1b2").artifacts == {"report": "/b/report.html", "bundle": "/a/export"}
    with pytest.raises(UnknownRunError):
        tracker.log_artifact("nope", "report", Path("/a/report.html"))


def test_composite_writes_reach_every_writer(tmp_path: Path) -> None:
    mirror = SQLiteTracker(tmp_path / "mirror.db")
    with CompositeTracker(SQLiteTracker(tmp_path / "tracker.db"), [mirror]) as tracker:
        tracker.start_run(make_run())
        tracker.log_trial(make_trial())
        tracker.log_epoch("20261124-101500-a1b2/0", EpochMetrics(0, {"loss": 0.5}, 5.0))
        tracker.finish_trial("20261124-101500-a1b2/0", TrialState.COMPLETED, ended_at=1011.0, objective=0.7)
    reopened = SQLiteTracker(tmp_path / "mirror.db")
    assert reopened.get_trial("20261124-101500-a1b2/0") == SQLiteTracker(tmp_path / "tracker.db").get_trial(
        "20261124-101500-a1b2/0")


def test_records_round_trip_through_dicts() -> None:
    trial = make_trial()
    assert TrialRecord.from_dict(trial.to_dict()) == trial
    run = make_run()
    assert RunInfo.from_dict(run.to_dict()) == run
    with pytest.raises(RecordError, match="trial_id"):
        TrialRecord.from_dict({"run_id": "x"})


def test_sqlite_uses_wal_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = SQLiteTracker(db)
    first.start_run(make_run())
    first.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert SQLiteTracker(db).get_run("20261124-101500-a1b2").dataset == "rotten_tomatoes"


def test_a_failed_write_leaves_no_partial_trial(tmp_path: Path) -> None:
    tracker = SQLiteTracker(tmp_path / "t.db")
    tracker.start_run(make_run())
    bad = TrialRecord(**{**make_trial().__dict__, "epochs": (EpochMetrics(0, {}, 0.0), EpochMetrics(0, {}, 0.0))})
    with pytest.raises(sqlite3.IntegrityError):  # duplicate epoch in one write
        tracker.log_trial(bad)
    assert tracker.list_trials("20261124-101500-a1b2") == []


# -- selecting a backend ---------------------------------------------------------

def test_a_path_that_is_not_a_database_is_a_tracker_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database " * 100)
    with pytest.raises(TrackerError, match="not an autosearch tracker database"):
        SQLiteTracker(tmp_path / "notes.db")
    with pytest.raises(TrackerError, match="cannot open tracker"):
        SQLiteTracker(tmp_path)


@pytest.mark.parametrize("uri, expected", [
    ("clearml", "clearml://?offline=1"), ("clearml://", "clearml://?offline=1"),
    ("clearml://p", "clearml://p?offline=1"), ("clearml://p?timeout=5", "clearml://p?timeout=5&offline=1")])
def test_offline_is_added_to_any_clearml_uri(uri: str, expected: str) -> None:
    from autosearch.tracking.registry import offline_uri

    assert offline_uri(uri) == expected
    with pytest.raises(TrackerError, match="--offline is for the ClearML tracker"):
        offline_uri("sqlite:///x.db")


def test_unknown_scheme_error_lists_valid_schemes(tmp_path: Path) -> None:
    with pytest.raises(TrackerError, match=r"valid schemes: .*sqlite://"):
        get_tracker("mongodb://localhost/x")


def test_uri_comes_from_argument_then_env_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AUTOSEARCH_TRACKING_URI", raising=False)
    assert get_tracker().path == tmp_path / "home" / "tracker.db"
    monkeypatch.setenv("AUTOSEARCH_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    assert get_tracker().path == tmp_path / "env.db"
    assert get_tracker(f"sqlite:///{tmp_path / 'arg.db'}").path == tmp_path / "arg.db"
    existing = SQLiteTracker(tmp_path / "x.db")
    assert get_tracker(existing) is existing


def test_relative_sqlite_uri_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert get_tracker("sqlite:///sub/t.db").path == Path("sub/t.db")
    assert (tmp_path / "sub" / "t.db").exists()
