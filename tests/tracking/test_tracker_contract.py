"""The Tracker contract, run against every backend that can be read back: SQLite, PostgreSQL, composite, MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from trackerkit import RUN_ID, beat, make_run, make_trial

from autosearch.errors import (
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
)
from autosearch.tracking.liveness import STALE_AFTER, this_host

TRIAL = f"{RUN_ID}/0"


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_round_trips_with_its_metadata(tracker: Tracker) -> None:
    run = make_run()
    tracker.start_run(run)
    assert tracker.get_run(RUN_ID) == run
    assert tracker.get_run(RUN_ID).fingerprint == "abc"
    assert tracker.get_run(RUN_ID).heartbeat == run.heartbeat


def test_finish_run_sets_status_best_trial_and_merges_summary(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=2000.0, best_trial_id=TRIAL, summary={"test": 0.8})
    run = tracker.get_run(RUN_ID)
    assert (run.status, run.ended_at, run.best_trial_id) == (RunStatus.COMPLETED, 2000.0, TRIAL)
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
    with pytest.raises(UnknownRunError):
        tracker.heartbeat("nope", pid=1, host="h", at=1.0)
    with pytest.raises(UnknownRunError):
        tracker.restart_run("nope")
    with pytest.raises(UnknownRunError):
        tracker.delete_run("nope")


def test_trial_records_epochs_and_final_result(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    for epoch, acc in enumerate([0.6, 0.7]):
        tracker.log_epoch(TRIAL, EpochMetrics(epoch, {"loss": 1 - acc, "val_accuracy": acc}, 5.0))
    tracker.log_epoch(TRIAL, EpochMetrics(1, {"loss": 0.3, "val_accuracy": 0.7123456789012345}, 6.0))  # replaces
    tracker.finish_trial(TRIAL, TrialState.COMPLETED, ended_at=1011.0, objective=0.7123456789012345, best_epoch=1,
                         trainable_params=12_345_678_901)
    trial = tracker.get_trial(TRIAL)
    assert trial.state is TrialState.COMPLETED
    assert (trial.objective, trial.best_epoch, trial.trainable_params, trial.seed) == (
        0.7123456789012345, 1, 12_345_678_901, 42)  # doubles and 64-bit integers survive
    assert trial.duration == pytest.approx(10.0)
    assert trial.hyperparameters == {"learning_rate": 0.001, "text_block/dropout": 0.0}
    assert [e.metrics["val_accuracy"] for e in trial.epochs] == [0.6, 0.7123456789012345]
    assert trial.epochs[1].timestamp == 6.0
    assert tracker.get_trial(TRIAL, with_epochs=False).epochs == ()
    assert tracker.list_trials(RUN_ID, with_epochs=True) == [trial]


def test_hyperparameters_given_at_finish_replace_those_recorded_at_the_start(tracker: Tracker) -> None:
    # A model's build registers conditional hyperparameters the tuner did not know when the trial began.
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    grown = {"learning_rate": 0.001, "text_block/dropout": 0.0, "rnn_units": 32}
    tracker.finish_trial(TRIAL, TrialState.COMPLETED, ended_at=1002.0, objective=0.5, hyperparameters=grown)
    assert tracker.get_trial(TRIAL).hyperparameters == grown
    tracker.log_trial(make_trial(f"{RUN_ID}/1"))
    tracker.finish_trial(f"{RUN_ID}/1", TrialState.COMPLETED, ended_at=1003.0, objective=0.4)
    assert tracker.get_trial(f"{RUN_ID}/1").hyperparameters == make_trial().hyperparameters  # kept when not given


def test_finished_trial_cannot_be_updated(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    tracker.finish_trial(TRIAL, TrialState.FAILED, ended_at=1002.0, error="boom")
    with pytest.raises(TrialFinishedError, match="read-only"):
        tracker.log_epoch(TRIAL, EpochMetrics(0, {"loss": 1.0}, 1.0))
    with pytest.raises(TrialFinishedError):
        tracker.finish_trial(TRIAL, TrialState.COMPLETED, ended_at=1003.0)
    trial = tracker.get_trial(TRIAL)
    assert (trial.state, trial.error, trial.epochs) == (TrialState.FAILED, "boom", ())


def test_finishing_as_running_is_a_value_error(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    with pytest.raises(ValueError):
        tracker.finish_trial(TRIAL, TrialState.RUNNING, ended_at=1.0)


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


def test_a_failed_write_leaves_no_partial_trial(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    bad = TrialRecord(**{**make_trial().__dict__, "epochs": (EpochMetrics(0, {}, 0.0), EpochMetrics(0, {}, 0.0))})
    with pytest.raises(TrackerError, match="epoch twice"):
        tracker.log_trial(bad)
    assert tracker.list_trials(RUN_ID) == []


def test_lists_runs_newest_first_and_trials_in_start_order(tracker: Tracker) -> None:
    tracker.start_run(make_run("20261124-101500-aaaa", started_at=1.0))
    tracker.start_run(make_run("20261124-111500-bbbb", started_at=2.0))
    for i, t in [(1, 20.0), (0, 10.0)]:
        tracker.log_trial(make_trial(f"20261124-101500-aaaa/{i}", "20261124-101500-aaaa", started_at=t))
    assert [r.run_id for r in tracker.list_runs()] == ["20261124-111500-bbbb", "20261124-101500-aaaa"]
    assert [t.trial_id for t in tracker.list_trials("20261124-101500-aaaa")] == [
        "20261124-101500-aaaa/0", "20261124-101500-aaaa/1"]
    assert tracker.list_trials("20261124-111500-bbbb") == []


def test_find_trials_filters_by_run_state_and_kind(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.start_run(make_run("20261124-111500-bbbb"))
    tracker.log_trial(make_trial())
    tracker.log_trial(TrialRecord(**{**make_trial(f"{RUN_ID}/baseline-majority").__dict__,
                                     "kind": TrialKind.BASELINE, "state": TrialState.COMPLETED}))
    tracker.log_trial(make_trial("20261124-111500-bbbb/0", "20261124-111500-bbbb"))
    ids = lambda trials: sorted(t.trial_id for t in trials)  # noqa: E731
    assert len(tracker.find_trials()) == 3
    assert ids(tracker.find_trials([RUN_ID])) == [f"{RUN_ID}/0", f"{RUN_ID}/baseline-majority"]
    assert ids(tracker.find_trials(kinds=[TrialKind.BASELINE])) == [f"{RUN_ID}/baseline-majority"]
    assert ids(tracker.find_trials([RUN_ID], states=[TrialState.RUNNING])) == [f"{RUN_ID}/0"]
    assert tracker.find_trials([]) == [] and tracker.find_trials(states=[]) == []


def _trial(trial_id: str, run_id: str, started_at: float, state: TrialState, objective: float | None,
           kind: TrialKind = TrialKind.SEARCH) -> TrialRecord:
    return TrialRecord(**{**make_trial(trial_id, run_id, started_at).__dict__, "state": state,
                          "objective": objective, "kind": kind})


def test_find_trials_top_reads_the_first_trials_in_leaderboard_order(tracker: Tracker) -> None:
    """Ranked trials best first in each run's direction (ties by start, then id), then the others in start
    order: the leaderboard's order, so that its first rows are all a tracker has to read."""
    lower = "20261124-111500-bbbb"
    tracker.start_run(make_run())  # maximises (the default)
    tracker.start_run(RunInfo(**{**make_run(lower).__dict__, "config": {"search": {"direction": "min"}}}))
    done, failed, running = TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING
    for trial in [_trial(f"{RUN_ID}/0", RUN_ID, 1.0, failed, None), _trial(f"{RUN_ID}/1", RUN_ID, 2.0, done, 0.5),
                  _trial(f"{RUN_ID}/2", RUN_ID, 3.0, done, 0.9), _trial(f"{RUN_ID}/3", RUN_ID, 4.0, done, 0.5),
                  _trial(f"{RUN_ID}/4", RUN_ID, 0.5, running, None),
                  _trial(f"{RUN_ID}/baseline-majority", RUN_ID, 0.1, done, 0.7, TrialKind.BASELINE),
                  _trial(f"{lower}/0", lower, 1.0, done, 0.2), _trial(f"{lower}/1", lower, 2.0, done, 0.1)]:
        tracker.log_trial(trial)
    ids = lambda trials: [t.trial_id for t in trials]  # noqa: E731
    order = [f"{RUN_ID}/2", f"{RUN_ID}/baseline-majority", f"{RUN_ID}/1", f"{RUN_ID}/3", f"{RUN_ID}/4", f"{RUN_ID}/0"]
    assert ids(tracker.find_trials([RUN_ID], top=100)) == order
    assert ids(tracker.find_trials([RUN_ID], top=3)) == order[:3]
    assert ids(tracker.find_trials([lower], top=1)) == [f"{lower}/1"]  # the lower objective is the better
    # across runs, by each one's oriented score (maximised objectives negated), as the all-runs leaderboard
    assert ids(tracker.find_trials(top=6)) == [*order[:4], f"{lower}/1", f"{lower}/0"]
    assert ids(tracker.find_trials([RUN_ID], kinds=[TrialKind.SEARCH], states=[failed, done], top=2)) == order[:1] + order[2:3]
    assert tracker.find_trials([RUN_ID], top=0) == [] and tracker.find_trials([], top=5) == []


def test_an_interrupted_filter_with_top_reads_dead_runs_running_trials(tracker: Tracker) -> None:
    tracker.start_run(make_run(heartbeat=beat(pid=dead_pid())))
    tracker.log_trial(_trial(f"{RUN_ID}/0", RUN_ID, 1.0, TrialState.RUNNING, None))
    (trial,) = tracker.find_trials([RUN_ID], states=[TrialState.INTERRUPTED], top=5)
    assert trial.trial_id == f"{RUN_ID}/0" and trial.state is TrialState.INTERRUPTED


def test_trial_counts_per_run_and_kind(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.start_run(make_run("20261124-111500-bbbb"))
    for i in range(3):
        tracker.log_trial(make_trial(f"{RUN_ID}/{i}"))
    tracker.log_trial(_trial(f"{RUN_ID}/baseline-majority", RUN_ID, 0.1, TrialState.COMPLETED, 0.7, TrialKind.BASELINE))
    assert tracker.trial_counts() == {RUN_ID: 4}
    assert tracker.trial_counts([RUN_ID, "20261124-111500-bbbb"], kinds=[TrialKind.SEARCH]) == {RUN_ID: 3}
    assert tracker.trial_counts([]) == {}


def test_delete_run_removes_its_trials_and_epochs(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    tracker.log_epoch(TRIAL, EpochMetrics(0, {"loss": 1.0}, 1.0))
    tracker.delete_run(RUN_ID)
    assert tracker.list_runs() == [] and tracker.find_trials() == []
    with pytest.raises(UnknownTrialError):
        tracker.get_trial(TRIAL)
    tracker.start_run(make_run())  # the id is free again, with nothing left over
    tracker.log_trial(make_trial())
    assert tracker.get_trial(TRIAL).epochs == ()


def test_artifacts_attach_to_a_run_and_a_new_path_replaces_the_old(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_artifact(RUN_ID, "report", Path("/a/report.html"))
    tracker.log_artifact(RUN_ID, "bundle", Path("/a/export"))
    tracker.log_artifact(RUN_ID, "report", Path("/b/report.html"))
    assert tracker.get_run(RUN_ID).artifacts == {"report": "/b/report.html", "bundle": "/a/export"}
    with pytest.raises(UnknownRunError):
        tracker.log_artifact("nope", "report", Path("/a/report.html"))


# -- heartbeats and liveness -----------------------------------------------------

def test_heartbeat_is_recorded_and_a_late_beat_after_finish_is_ignored(tracker: Tracker) -> None:
    tracker.start_run(make_run(heartbeat={}, started_at=time.time()))
    assert tracker.get_run(RUN_ID).heartbeat == {}
    now = time.time()
    tracker.heartbeat(RUN_ID, pid=os.getpid(), host=this_host(), at=now)
    assert tracker.get_run(RUN_ID).heartbeat == {"pid": os.getpid(), "host": this_host(), "at": now}
    tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=now + 1)
    tracker.heartbeat(RUN_ID, pid=os.getpid(), host=this_host(), at=now + 2)
    run = tracker.get_run(RUN_ID)
    assert run.status is RunStatus.COMPLETED and run.heartbeat["at"] == now


def _assert_interrupted_on_every_read(tracker: Tracker, *words: str) -> None:
    run = tracker.get_run(RUN_ID)
    assert run.status is RunStatus.INTERRUPTED and run.ended_at is None
    assert f"autosearch resume {RUN_ID}" in run.error and all(w in run.error for w in words), run.error
    assert "\n" not in run.error
    assert [r.status for r in tracker.list_runs()] == [RunStatus.INTERRUPTED]
    assert tracker.get_trial(TRIAL).state is TrialState.INTERRUPTED
    assert "stopped" in tracker.get_trial(TRIAL).error
    assert [t.state for t in tracker.list_trials(RUN_ID)] == [TrialState.INTERRUPTED, TrialState.COMPLETED]
    assert [t.state for t in tracker.find_trials([RUN_ID])] == [TrialState.INTERRUPTED, TrialState.COMPLETED]
    assert [t.trial_id for t in tracker.find_trials(states=[TrialState.INTERRUPTED])] == [TRIAL]
    assert tracker.find_trials(states=[TrialState.RUNNING]) == []


def _run_with_two_trials(tracker: Tracker, heartbeat: dict, started_at: float = 1000.0) -> None:
    tracker.start_run(make_run(heartbeat=heartbeat, started_at=started_at))
    tracker.log_trial(make_trial())
    tracker.log_trial(make_trial(f"{RUN_ID}/1", started_at=1002.0))
    tracker.finish_trial(f"{RUN_ID}/1", TrialState.COMPLETED, ended_at=1003.0, objective=0.5)


def test_a_run_whose_process_is_gone_reads_interrupted_at_once_and_nothing_is_written(tracker: Tracker) -> None:
    pid = dead_pid()
    _run_with_two_trials(tracker, beat(pid=pid))
    _assert_interrupted_on_every_read(tracker, f"process {pid} on host {this_host()} stopped", "last heartbeat")
    tracker.heartbeat(RUN_ID, pid=os.getpid(), host=this_host(), at=time.time())  # a live process takes over
    assert tracker.get_run(RUN_ID).status is RunStatus.RUNNING  # the reads above stored nothing
    assert tracker.get_trial(TRIAL).state is TrialState.RUNNING


def test_a_run_without_a_heartbeat_for_longer_than_stale_after_reads_interrupted(tracker: Tracker) -> None:
    _run_with_two_trials(tracker, {"pid": 4242, "host": "another-machine", "at": time.time() - STALE_AFTER - 5})
    _assert_interrupted_on_every_read(tracker, "process 4242 on host another-machine stopped", "no heartbeat for")


def test_a_recent_heartbeat_from_another_host_keeps_the_run_running(tracker: Tracker) -> None:
    _run_with_two_trials(tracker, {"pid": 4242, "host": "another-machine", "at": time.time() - 5})
    assert tracker.get_run(RUN_ID).status is RunStatus.RUNNING
    assert tracker.get_trial(TRIAL).state is TrialState.RUNNING


def test_an_older_run_with_no_heartbeat_is_judged_by_its_start(tracker: Tracker) -> None:
    tracker.start_run(make_run("20261124-101500-fres", heartbeat={}, started_at=time.time()))
    assert tracker.get_run("20261124-101500-fres").status is RunStatus.RUNNING
    _run_with_two_trials(tracker, heartbeat={}, started_at=time.time() - STALE_AFTER - 5)
    run = tracker.get_run(RUN_ID)
    assert run.status is RunStatus.INTERRUPTED and "without a heartbeat" in run.error
    assert tracker.get_trial(TRIAL).state is TrialState.INTERRUPTED


# -- restarting a run for resume -------------------------------------------------

def test_restart_run_revives_a_dead_run_and_closes_its_running_trials(tracker: Tracker) -> None:
    _run_with_two_trials(tracker, beat(pid=dead_pid(), at=1010.0))
    run = tracker.restart_run(RUN_ID)
    assert run == tracker.get_run(RUN_ID)
    assert (run.status, run.ended_at, run.error) == (RunStatus.RUNNING, None, None)
    assert run.heartbeat["pid"] == os.getpid() and run.heartbeat["host"] == this_host()
    trial = tracker.get_trial(TRIAL)  # stored INTERRUPTED now, not only read so
    assert trial.state is TrialState.INTERRUPTED and trial.ended_at == 1010.0 and "stopped" in trial.error
    assert trial.extra["process_died"] is True  # what resume counts: a trial that killed its process twice ends
    assert tracker.get_trial(f"{RUN_ID}/1").state is TrialState.COMPLETED
    tracker.log_trial(make_trial(f"{RUN_ID}/0-again"))  # the resumed search writes on


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.INTERRUPTED])
def test_restart_run_reopens_a_failed_or_interrupted_run(tracker: Tracker, status: RunStatus) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())  # left RUNNING by a search that ended (a handled error, Ctrl-C)
    tracker.finish_run(RUN_ID, status, ended_at=2000.0, summary={"error": "boom", "run_dir": "runs/x"})
    run = tracker.restart_run(RUN_ID)
    trial = tracker.get_trial(TRIAL)
    assert trial.state is TrialState.INTERRUPTED and "process_died" not in trial.extra
    assert (run.status, run.ended_at, run.error) == (RunStatus.RUNNING, None, None)
    assert run.summary == {"run_dir": "runs/x", "duration": 1000.0, "resumed_at": run.heartbeat["at"]}


def test_restart_run_sums_the_time_of_every_attempt_killed_or_stopped(tracker: Tracker) -> None:
    """A resumed run keeps its time budget: each attempt counts until its end, or a killed one until its last
    heartbeat; the pauses between attempts do not count."""
    tracker.start_run(make_run(started_at=1000.0, heartbeat=beat(pid=dead_pid(), at=1100.0)))  # killed at ~1100
    first = tracker.restart_run(RUN_ID)
    assert first.duration == 100.0
    resumed = first.summary["resumed_at"]
    tracker.heartbeat(RUN_ID, pid=dead_pid(), host=this_host(), at=resumed + 50.0)  # killed again, 50 s in
    second = tracker.restart_run(RUN_ID)
    assert second.duration == pytest.approx(150.0)
    tracker.finish_run(RUN_ID, RunStatus.INTERRUPTED, ended_at=time.time(), summary={"duration": 170.0})  # Ctrl-C
    assert tracker.restart_run(RUN_ID).duration == 170.0  # the search measured its own time


def test_restart_run_refuses_a_completed_or_live_run(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    with pytest.raises(TrackerError, match=f"run '{RUN_ID}' is still running .*process {os.getpid()}"):
        tracker.restart_run(RUN_ID)
    tracker.finish_run(RUN_ID, RunStatus.COMPLETED, ended_at=2000.0)
    with pytest.raises(TrackerError, match="is COMPLETED; there is nothing to resume"):
        tracker.restart_run(RUN_ID)
    assert tracker.get_run(RUN_ID).status is RunStatus.COMPLETED


# -- threads -----------------------------------------------------------------------

def test_a_heartbeat_thread_and_the_main_thread_share_the_tracker(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    stop, errors, beats = threading.Event(), [], [0]

    def beat_loop() -> None:
        try:
            while not stop.is_set():
                tracker.heartbeat(RUN_ID, pid=os.getpid(), host=this_host(), at=time.time())
                tracker.get_run(RUN_ID)
                beats[0] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=beat_loop)
    thread.start()
    try:
        for i in range(60):
            tracker.log_trial(make_trial(f"{RUN_ID}/{i}", started_at=1000.0 + i))
            tracker.log_epoch(f"{RUN_ID}/{i}", EpochMetrics(0, {"loss": 1.0}, 1.0))
            tracker.finish_trial(f"{RUN_ID}/{i}", TrialState.COMPLETED, ended_at=2000.0 + i, objective=i / 100)
    finally:
        stop.set()
        thread.join()
    assert errors == [] and beats[0] > 0
    trials = tracker.list_trials(RUN_ID, with_epochs=True)
    assert len(trials) == 60 and all(t.state is TrialState.COMPLETED and len(t.epochs) == 1 for t in trials)
