"""The crash matrix (``benchmarks/crash.py``): its pure helpers and its held-lock fault here, a few real kills
and held locks under ``make bench``."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))

from benchmarks import crash, crash_faults


def row(local: str, state: str, keras_id: str | None = None) -> dict:
    return {"local": local, "state": state, "keras_id": keras_id or local.split("-a")[0]}


def test_a_completed_run_has_each_trial_completed_once_and_only_attempt_rows_besides() -> None:
    ok = [row("0", "COMPLETED"), row("1", "INTERRUPTED"), row("1-a2", "COMPLETED"), row("2", "INTERRUPTED"),
          row("2-a2", "FAILED"), row("3", "COMPLETED")]
    assert crash.attempt_rows_ok(ok, 3) == []
    assert crash.attempt_rows_ok(ok[:3], 3) == ["2/3 KerasTuner trials COMPLETED"]
    twice = [row("0", "COMPLETED"), row("0-a2", "COMPLETED"), row("1", "COMPLETED"), row("2", "COMPLETED")]
    assert crash.attempt_rows_ok(twice, 3) == ["trial 0: COMPLETED 2 times"]
    stray = [row("0", "COMPLETED"), row("0-b", "INTERRUPTED", "0"), row("1", "COMPLETED"), row("2", "COMPLETED")]
    assert crash.attempt_rows_ok(stray, 3) == ["trial 0: rows ['0', '0-b'] are not its attempts"]
    running = [row("0", "COMPLETED"), row("1", "COMPLETED"), row("2", "COMPLETED"), row("3", "RUNNING")]
    assert crash.attempt_rows_ok(running, 3) == ["trial 3: states {'RUNNING': 1}"]


def test_a_completed_trial_lost_or_changed_is_named() -> None:
    before = {"r/0": (0.9, 1, "{}"), "r/1": (0.8, 0, "{}")}
    assert crash.lost_completed(before, {**before, "r/2": (0.7, 1, "{}")}) == []
    assert crash.lost_completed(before, {"r/0": (0.9, 1, "{}")}) == ["r/1"]
    assert crash.lost_completed(before, {"r/0": (0.91, 1, "{}"), "r/1": (0.8, 0, "{}")}) == ["r/0"]


def test_a_training_finished_at_a_stop_must_be_the_completed_row_and_never_run_again() -> None:
    def r(local: str, state: str, at: float) -> dict:
        return {**row(local, state), "started_at": at}

    kept = [r("0", "COMPLETED", 1.0), r("1", "INTERRUPTED", 2.0), r("1-a2", "COMPLETED", 9.0)]
    assert crash.finished_trainings_lost(kept, [(5.0, {"0"}), (10.0, {"0", "1"})]) == []
    # a held lock kept trial 1's end out of the tracker, the kill came, and resume closed it and trained it again
    lost = [r("0", "COMPLETED", 1.0), r("1", "INTERRUPTED", 2.0), r("1-a2", "COMPLETED", 9.0)]
    assert crash.finished_trainings_lost(lost, [(5.0, {"0", "1"})]) == [
        "trial 1: trained to its end before a stop, not COMPLETED in the tracker",
        "trial 1: trained to its end before a stop, run again after it"]


def test_the_trainings_kerastuner_finished_are_read_from_its_trial_files(tmp_path: Path) -> None:
    for keras_id, status in (("0", "COMPLETED"), ("1", "RUNNING"), ("2", "COMPLETED")):
        (tmp_path / "autokeras" / f"trial_{keras_id}").mkdir(parents=True)
        (tmp_path / "autokeras" / f"trial_{keras_id}" / "trial.json").write_text(json.dumps({"status": status}))
    (tmp_path / "autokeras" / "trial_2" / "trial.json").write_text('{"stat')  # mid-write: not yet finished
    assert crash.keras_completed(tmp_path) == {"0"} and crash.keras_completed(None) == set()


def test_the_lock_fault_holds_a_real_write_lock_past_the_timeout_until_released(tmp_path: Path) -> None:
    from autosearch.errors import TrackerLockedError
    from autosearch.tracking.sqlite import SQLiteTracker

    tracker = SQLiteTracker(tmp_path / "tracker.db", lock_timeout_s=0.2)
    assert crash_faults.LockFault(tmp_path / "none.db", 0.0, 5.0).start().release() is None
    assert not (tmp_path / "none.db").exists(), "no tracker yet: the fault creates none"
    fault = crash_faults.LockFault(tracker.path, 0.1, 30.0).start()
    assert fault.locked.wait(30), "the second process took the lock"
    time.sleep(1.0)
    with pytest.raises(TrackerLockedError, match="write lock"):
        tracker.heartbeat("r", pid=1, host="h", at=1.0)
    fault.release()  # the child ended: the lock goes with it, long before its 30 s
    assert fault.taken is not None and 0.9 < fault.taken < 10 and fault.held_past_timeout() is (fault.taken > 2.0)
    with pytest.raises(Exception, match="not found"):  # the write goes through to the tracker again
        tracker.heartbeat("r", pid=1, host="h", at=1.0)
    stopped = crash_faults.stopped_by_the_lock
    assert stopped(fault, 2, "error: the write lock on x is held for over 2 s by process 7; wait")
    assert not stopped(fault, 1, "Traceback ... write lock") and not stopped(None, 2, "the write lock")


def test_kill_moments_are_seeded_and_uniform_over_the_run() -> None:
    a = crash.draw_moments(random.Random(12), 20.0, 2000)
    assert a == crash.draw_moments(random.Random(12), 20.0, 2000)
    assert min(a) >= 0 and max(a) <= 20 and 9 < sum(a) / len(a) < 11
    assert 0.2 < sum(x < 5 for x in a) / len(a) < 0.3


def tracker_db(path: Path, runs: list[tuple], trials: list[tuple]) -> Path:
    """A database with the tracker's runs/trials columns that the matrix reads."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, status TEXT, hb_pid INTEGER)")
    con.execute("CREATE TABLE trials (trial_id TEXT PRIMARY KEY, run_id TEXT, kind TEXT, state TEXT, extra TEXT)")
    con.executemany("INSERT INTO runs VALUES (?, ?, ?)", runs)
    con.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?)", trials)
    con.commit()
    con.close()
    return path


def test_the_phase_of_a_kill_is_read_from_the_rows_and_files_it_left(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    since = time.time()

    def phase(runs: list[tuple], trials: list[tuple], pid: int = 7, resume: bool = False) -> str:
        db = tmp_path / f"t{time.monotonic_ns()}.db"
        return crash.phase_of(crash.read_raw(tracker_db(db, runs, trials)), "r", pid, run_dir, since, max_trials=3,
                              resume=resume)

    base = [("r/baseline-majority", "r", "baseline", "COMPLETED", "{}")]
    done = [(f"r/{i}", "r", "search", "COMPLETED", json.dumps({"keras_trial_id": str(i)})) for i in range(3)]
    assert crash.phase_of(crash.Raw(), None, 7, None, since) == "start-up"
    assert phase([("r", "RUNNING", 6)], base) == "start-up"  # a resume that has not taken the run over
    assert phase([("r", "RUNNING", 7)], []) == "before the first trial"
    assert phase([("r", "RUNNING", 7)], base) == "before the first trial"
    assert phase([("r", "RUNNING", 7)], base + [("r/0", "r", "search", "RUNNING", "{}")]) == "trial"
    assert phase([("r", "RUNNING", 7)], base + done[:2]) == "between trials"
    assert phase([("r", "RUNNING", 7)], base + done[:2], resume=True) == "resume: reload"  # no tuner0.json saved yet
    (run_dir / "autokeras").mkdir()
    (run_dir / "autokeras" / "tuner0.json").write_text("{}")
    assert phase([("r", "RUNNING", 7)], base + done[:2], resume=True) == "between trials"
    assert phase([("r", "RUNNING", 7)], base + done) == "scoring"
    (run_dir / ".export.tmp-abc123").mkdir()
    assert phase([("r", "RUNNING", 7)], base + done) == "bundle"
    (run_dir / ".export.tmp-abc123").rmdir()
    (run_dir / "export").mkdir()
    assert phase([("r", "RUNNING", 7)], base + done) == "finishing"
    assert phase([("r", "COMPLETED", 7)], base + done) == "after completion"
    raw = crash.read_raw(tracker_db(tmp_path / "ids.db", [("r", "RUNNING", 7)],
                                    [("r/1-a2", "r", "search", "COMPLETED", "{}")]))
    assert raw.integrity == "ok" and raw.trials["r/1-a2"]["keras_id"] == "1"


@pytest.mark.slow
def test_a_few_kills_and_held_locks_each_resumed_leave_nothing_lost_nothing_running(tmp_path: Path) -> None:
    section = crash.run(tmp_path / "crash", kills=3, jobs=1, lock_share=1.0)  # every child meets a held lock
    figures = {f.name: f for f in section.figures}
    assert figures["SIGKILLs, each followed by a resume"].value == 3
    for name in ("integrity_check not ok after a kill", "COMPLETED trials lost or changed",
                 "kills after which a run or trial reads RUNNING", "bundle load failures",
                 "resumes that failed unkilled", "completed runs failing the final checks",
                 "finished trainings lost or run again"):
        assert figures[name].value == 0 and figures[name].ok, (name, section.raw["failures"])
    assert figures["runs completed (after kills)"].value >= 1
    assert figures["held tracker locks"].value >= 1, section.raw["counts"]
    assert section.raw["counts"]["lock_faults_past_timeout"] >= 1, section.raw["counts"]
    assert sum(figures[f"kills landed in: {p}"].value for p in crash.PHASES) == 3
    assert section.raw["failures"] == [] and len(section.raw["kills"]) == 3


def test_an_export_clears_what_a_killed_export_left_and_puts_a_swapped_out_bundle_back(tmp_path: Path) -> None:
    """What the matrix found: a kill while the bundle was written left ``.export.tmp-*`` for good."""
    from autosearch.export.bundle import clear_leftovers

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()  # a process id that no longer runs
    for name in (f".export.tmp-p{dead}-aaaaaa", f".export.tmp-p{os.getpid()}-bbbbbb", ".export.tmp-c0ffee",
                 f".export.old-p{dead}-cccccc"):
        (tmp_path / name).mkdir()
    (tmp_path / f".export.old-p{dead}-cccccc" / "manifest.json").write_text("{}")
    clear_leftovers(tmp_path / "export")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".export.tmp-c0ffee", f".export.tmp-p{os.getpid()}-bbbbbb",
                                                          "export"], "a live export's and unowned folders stay"
    assert (tmp_path / "export" / "manifest.json").is_file(), "the previous bundle is back"
    (tmp_path / f".export.old-p{dead}-dddddd").mkdir()
    clear_leftovers(tmp_path / "export")
    assert not (tmp_path / f".export.old-p{dead}-dddddd").exists(), "with a bundle in place, an old one goes"


@pytest.mark.slow
def test_a_search_killed_before_its_first_trial_resumes_with_its_baselines(tmp_path: Path) -> None:
    """What the matrix found: such a run was refused ("no AutoKeras project"), INTERRUPTED for good."""
    home = tmp_path / "home"
    env = crash.bench_env(home)
    proc = subprocess.Popen([sys.executable, "-m", "autosearch", *crash.SEARCH], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not crash.read_raw(home / "tracker.db", integrity=False).runs:
            assert proc.poll() is None and time.monotonic() < deadline, "the search never created its run"
            time.sleep(0.05)
        proc.kill()  # the run exists; TensorFlow is still importing: no baseline, no AutoKeras project
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    raw = crash.read_raw(home / "tracker.db")
    (run_id,) = raw.runs
    assert not raw.trials_of(run_id, "search") and not (home / "runs" / run_id / "autokeras").exists()
    res = subprocess.run([sys.executable, "-m", "autosearch", "resume", run_id, "-q"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    raw = crash.read_raw(home / "tracker.db")
    assert raw.runs[run_id]["status"] == "COMPLETED"
    assert crash.attempt_rows_ok(raw.trials_of(run_id, "search"), crash.MAX_TRIALS) == []
    baselines = raw.trials_of(run_id, "baseline")
    assert len(baselines) == 2 and all(t["state"] == "COMPLETED" for t in baselines), baselines
