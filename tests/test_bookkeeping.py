"""What the per-trial bookkeeping leaves behind once it is cheap (issue 15): the ClearML leaderboard table is
published by heartbeats and at the run's end (not rebuilt at every search trial's end), checkpoints are deleted by
a thread but chosen when the trial ends, and a trial's peak memory is still its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from conftest import ROOT

from autosearch.tuning.checkpoints import checkpoint_path, prune_checkpoints, wait_for_pruning
from autosearch.tuning.resources import ResourceSampler

# A baseline and four trials written to a real (offline) ClearML task in a fresh process (the SDK keeps process-wide
# state), with no search. argv: the run directory, then "finished" (the run ends) or "killed" (the process dies after
# a beat and two more trials, before the run's end; closing the task stands in for the events the SDK's thread had
# written by then).
SCRIPT = r"""
import sys, time
from pathlib import Path
from autosearch.tracking.clearml import ClearMLTracker
from autosearch.tracking.records import RunInfo, RunStatus, TrialKind, TrialRecord, TrialState

run_dir, ending = Path(sys.argv[1]), sys.argv[2]
run_id = "20261201-120000-b00c"
tracker = ClearMLTracker("bookkeeping-tests", offline=True)
tracker.start_run(RunInfo(run_id=run_id, pipeline="p", task="text_classification", dataset="d", seed=0,
                          started_at=time.time(), config={"search": {"direction": "max"}},
                          summary={"run_dir": str(run_dir)}))
objectives = {"baseline-majority": 0.5, "0": 0.61, "1": 0.83, "2": None, "3": 0.72}  # trial 2 fails
for n, (local, objective) in enumerate(objectives.items()):
    trial_id, kind = f"{run_id}/{local}", TrialKind.BASELINE if local.startswith("baseline") else TrialKind.SEARCH
    tracker.log_trial(TrialRecord(trial_id=trial_id, run_id=run_id, kind=kind, state=TrialState.RUNNING,
                                  hyperparameters={"width": 8 * n} if n else {}, seed=n, started_at=time.time()))
    state = TrialState.COMPLETED if objective else TrialState.FAILED
    tracker.finish_trial(trial_id, state, ended_at=time.time(), objective=objective,
                         best_epoch=0 if objective else None, error=None if objective else "boom")
    if ending == "killed" and local == "1":
        tracker.heartbeat(run_id, pid=0, host="here", at=time.time())  # then two more trials end, and the kill
if ending == "finished":
    tracker.finish_run(run_id, RunStatus.COMPLETED, ended_at=time.time())
tracker.close()
"""


def clearml_run(tmp_path: Path, ending: str) -> tuple[list[dict[str, list[str]]], list[dict]]:
    """(each leaderboard table the session holds, in order, as {column: cells}; its objective scalars)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))}
    env.update(HOME=str(tmp_path / "user"), AUTOSEARCH_HOME=str(tmp_path / "home"), PYTHONWARNINGS="ignore")
    (tmp_path / "user").mkdir()
    run_dir = tmp_path / "home" / "runs" / "r"
    run_dir.mkdir(parents=True)
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), ending], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    with zipfile.ZipFile(run_dir / "clearml" / "session.zip") as z:
        events = [e for line in z.read("metrics.jsonl").decode().splitlines() for e in json.loads(line)]
    tables = [json.loads(e["plot_str"])["data"][0] for e in events
              if e["type"] == "plot" and e["metric"] == "leaderboard"]
    columns = [{name: [str(c) for c in cells] for (name,), cells in zip(t["header"]["values"], t["cells"]["values"])}
               for t in tables]
    return columns, [e for e in events if e["type"] == "training_stats_scalar" and e["metric"] == "objective"]


def local_ids(table: dict[str, list[str]]) -> list[str]:
    return [t.rsplit("/", 1)[1] for t in table["trial"]]


def test_the_run_s_end_publishes_the_whole_leaderboard_best_first(tmp_path: Path) -> None:
    tables, scalars = clearml_run(tmp_path, "finished")
    assert [local_ids(t) for t in tables] == [["baseline-majority"], ["1", "3", "0", "baseline-majority", "2"]], \
        "the baseline's end publishes a table at once, the search trials' ends none, the run's end the whole"
    table = tables[-1]
    assert table["state"] == ["COMPLETED"] * 4 + ["FAILED"] and table["error"][-1] == "boom"
    assert table["objective"][:4] == ["0.83", "0.72", "0.61", "0.5"]
    assert table["width"] == ["16.0", "32.0", "8.0", "nan", "24.0"]
    assert [s["value"] for s in scalars] == [0.61, 0.83, 0.72], "each completed trial's objective, as it ends"


def test_a_killed_run_keeps_its_last_beat_s_table_and_every_objective(tmp_path: Path) -> None:
    tables, scalars = clearml_run(tmp_path, "killed")
    assert [local_ids(t) for t in tables] == [["baseline-majority"], ["1", "0", "baseline-majority"]], \
        "the beat after trial 1 published a table; nothing after it did"
    assert [s["value"] for s in scalars] == [0.61, 0.83, 0.72], "trials ended after the last beat have their scalar"


def test_a_background_prune_deletes_only_what_was_doomed_when_it_was_called(tmp_path: Path) -> None:
    for trial in ("0", "1", "2"):
        checkpoint_path(tmp_path, trial).parent.mkdir(parents=True)
        checkpoint_path(tmp_path, trial).write_bytes(b"w" * 1_000_000)
    assert prune_checkpoints(tmp_path, {"1"}, background=True) == 2_000_000
    later = checkpoint_path(tmp_path, "3")  # the next trial's, written while the deletions may still run
    later.parent.mkdir(parents=True)
    later.write_bytes(b"w")
    wait_for_pruning()
    assert sorted(p.parent.name for p in tmp_path.glob("autokeras/trial_*/*.h5")) == ["trial_1", "trial_3"]
    assert prune_checkpoints(tmp_path, {"1"}) == 1  # in the foreground: gone when it returns
    assert [p.parent.name for p in tmp_path.glob("autokeras/trial_*/*.h5")] == ["trial_1"]


def test_a_trial_s_peak_memory_is_sampled_between_its_start_and_stop() -> None:
    before = ResourceSampler().start()
    time.sleep(0.05)
    quiet = before.stop()
    sampler = ResourceSampler(interval=0.02).start()
    other = ResourceSampler().start()  # samplers overlap: one thread samples for both
    block = b"\x01" * 300_000_000  # resident, unlike a calloc'd bytearray
    time.sleep(0.3)
    del block
    time.sleep(0.05)
    used, also = sampler.stop(), other.stop()
    assert used["peak_rss_bytes"] >= quiet["peak_rss_bytes"] + 250_000_000, "the peak, not the RSS at the stop"
    assert also["peak_rss_bytes"] >= quiet["peak_rss_bytes"] + 250_000_000
    assert 0 <= quiet["cpu_percent_mean"] < 50 and used["cpu_percent_mean"] > 0
