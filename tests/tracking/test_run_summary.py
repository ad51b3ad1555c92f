"""RunSummary: a run record's summary read into typed fields, and written back without losing a key."""

from __future__ import annotations

from autosearch.tracking import RunStatus
from autosearch.tracking.records import RunInfo
from autosearch.tracking.runsummary import DEFAULT_LOST_AFTER, RunSummary

STORED = {"run_dir": "runs/r", "bundle": "runs/r/export", "best_objective": 0.8, "n_trials": 3, "duration": 12.5,
          "scores": {"metric": "accuracy", "test": 0.75, "validation": 0.8}, "fitted": {"sequence_length": 64},
          "fixes": ["optimizer pinned"], "baselines_won": [{"model": "m", "test": 0.9, "best_trial_test": 0.75}],
          "distributed": {"chief": "127.0.0.1:8000", "lost_after": 5}, "artifacts": {"report": "runs/r/report.html"},
          "resumed_at": 100.0, "written_by_a_later_release": {"x": 1}}


def test_a_stored_summary_reads_into_fields_and_writes_back_unchanged() -> None:
    summary = RunSummary.from_dict(STORED)
    assert (summary.n_trials, summary.fixes, summary.chief, summary.lost_after) == (
        3, ("optimizer pinned",), "127.0.0.1:8000", 5.0)
    assert summary.other == {"written_by_a_later_release": {"x": 1}}
    assert summary.to_dict() == STORED


def test_an_empty_or_partial_summary_reads_with_defaults() -> None:
    summary = RunSummary.from_dict(None)
    assert (summary.run_dir, summary.scores, summary.baselines_won, summary.chief, summary.lost_after) == (
        None, {}, (), None, DEFAULT_LOST_AFTER)
    assert RunSummary.from_dict({"error": "KeyboardInterrupt: ", "duration": None}).error == "KeyboardInterrupt: "


def test_to_dict_leaves_out_what_is_unset_so_a_merge_never_blanks_a_stored_key() -> None:
    end = RunSummary(n_trials=0, duration=0.0, error="boom")
    assert end.to_dict() == {"n_trials": 0, "duration": 0.0, "error": "boom"}
    assert {**STORED, **end.to_dict()}["run_dir"] == "runs/r"


def test_run_info_reads_its_summary_through_outcome() -> None:
    run = RunInfo("r", "text", "text_classification", "d", 0, 1.0, status=RunStatus.FAILED,
                  summary={"error": "DataError: x", "duration": 3.0, "scores": {"test": 0.5}})
    assert (run.outcome.error, run.error, run.duration, run.scores) == ("DataError: x", "DataError: x", 3.0,
                                                                       {"test": 0.5})
