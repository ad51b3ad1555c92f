"""Each step of resume's oracle repair (``tuning.oracle_repair``), alone, on real KerasTuner project files.

The projects are written by KerasTuner's own Oracle API (``create_trial``, ``update_trial``, ``end_trial``,
``save``) through a real tuner that trains nothing; the damage a kill leaves (a truncated file, a trial
left RUNNING) is then made on those files.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

keras_tuner = pytest.importorskip("keras_tuner")

from conftest import PIPELINES  # noqa: E402

from autosearch.errors import UnsupportedVersionError  # noqa: E402
from autosearch.tuning import kt_adapter, oracle_repair  # noqa: E402
from autosearch.tuning.chief_oracle import harden  # noqa: E402


def _build(hp):
    hp.Int("units", 1, 64)
    hp.Choice("act", ["relu", "tanh"])


def _tuner(directory: Path, kind: str = "random"):
    """A real KerasTuner tuner on ``directory/p`` (no tuner0.json is written, so a second one starts fresh)."""
    objective = keras_tuner.Objective("score", "max")
    if kind == "hyperband":
        return keras_tuner.Hyperband(_build, objective=objective, max_epochs=9, factor=3, directory=str(directory),
                                     project_name="p", seed=3)
    return keras_tuner.RandomSearch(_build, objective=objective, max_trials=10, directory=str(directory),
                                    project_name="p", seed=3)


def _finish(oracle, score: float):
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"score": score}, step=0)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return trial


@pytest.fixture()
def killed(tmp_path: Path) -> Path:
    """Two completed trials and a third RUNNING when the process died; the project folder."""
    oracle = _tuner(tmp_path).oracle
    _finish(oracle, 0.5)
    _finish(oracle, 0.7)
    oracle.create_trial("tuner0")
    oracle.save()
    return tmp_path / "p"


def _fresh(project: Path):
    return _tuner(project.parent).oracle


def test_load_trials_removes_the_newest_unreadable_trial_and_keeps_an_older_one_as_a_failed_placeholder(killed):
    (killed / "trial_02" / "trial.json").write_text('{"trial_id": "02", "hyperpa')  # cut by the kill
    (killed / "trial_00" / "trial.json").write_text("")
    (killed / "trial_01" / ".tmp-x.json").write_text("{}")
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    assert sorted(trials) == ["00", "01"] and not (killed / "trial_02").exists()
    assert trials["00"].status == "FAILED" and trials["01"].status == "COMPLETED"
    assert report["removed"] == ["00 (kept as FAILED placeholder)", "02"]
    assert not list(killed.glob("**/.tmp-*.json"))


@pytest.mark.parametrize(("damage", "why"), [("", "unreadable"), (None, "missing"), ('{"seed": 1}', "incomplete")])
def test_read_oracle_json_says_why_a_damaged_oracle_json_cannot_be_used(killed, damage, why):
    path = killed / "oracle.json"
    path.unlink() if damage is None else path.write_text(damage)
    state, said = oracle_repair.read_oracle_json(killed)
    assert state is None and said.startswith(why)


def test_restore_state_uses_oracle_json_when_it_is_whole(killed):
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    assert oracle_repair.restore_state(oracle, killed, trials, report) is True
    assert report["oracle_json"] == "ok" and oracle.end_order == ["00", "01"]


def test_restore_state_rebuilds_a_truncated_oracle_json_from_the_trials_and_draws_past_their_seeds(killed):
    saved = json.loads((killed / "oracle.json").read_text())
    (killed / "oracle.json").write_text(json.dumps(saved)[:40])
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    assert oracle_repair.restore_state(oracle, killed, trials, report) is False
    assert report["oracle_json"].startswith("unreadable") and report["oracle_json"].endswith("rebuilt from trial.json files")
    assert oracle.get_state()["seed_state"] > saved["seed_state"]


def test_settle_trials_queues_the_interrupted_trial_to_run_again_under_its_id(killed):
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    oracle_repair.restore_state(oracle, killed, trials, report)
    end_order, retry = oracle_repair.settle_trials(oracle, trials, frozenset(), report, True)
    assert (end_order, retry) == (["00", "01"], ["02"])
    assert report["interrupted"] == report["rerun"] == ["02"] and report["completed_kept"] == ["00", "01"]
    assert trials["02"].score is None and not trials["02"].metrics.metrics
    assert json.loads((killed / "trial_02" / "trial.json").read_text())["message"] is None


def test_settle_trials_closes_an_abandoned_interrupted_trial_failed_and_it_is_counted(killed):
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    oracle_repair.restore_state(oracle, killed, trials, report)
    end_order, retry = oracle_repair.settle_trials(oracle, trials, frozenset({"02"}), report, True)
    assert retry == [] and report["abandoned"] == ["02"] and trials["02"].status == "FAILED"
    assert json.loads((killed / "trial_02" / "trial.json").read_text())["message"] == oracle_repair.INTERRUPTED
    assert oracle_repair.closed_interrupted(trials) == 1


def test_settle_trials_ends_a_trial_whose_trial_json_says_completed_but_oracle_json_does_not(killed):
    state = json.loads((killed / "oracle.json").read_text())
    state["end_order"] = ["00"]  # killed between the trial's file and the oracle's
    (killed / "oracle.json").write_text(json.dumps(state))
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    oracle_repair.restore_state(oracle, killed, trials, report)
    end_order, _ = oracle_repair.settle_trials(oracle, trials, frozenset(), report, True)
    assert end_order == ["00", "01"] and report["ended_late"] == ["01"]


def test_reindex_leaves_no_trial_ongoing_and_every_trial_started_and_indexed(killed):
    state = json.loads((killed / "oracle.json").read_text())
    state["start_order"] = ["01"]
    (killed / "oracle.json").write_text(json.dumps(state))
    oracle, report = _fresh(killed), oracle_repair.new_report()
    trials = oracle_repair.load_trials(oracle, killed, report)
    oracle_repair.restore_state(oracle, killed, trials, report)
    oracle_repair.reindex(oracle, *oracle_repair.settle_trials(oracle, trials, frozenset(), report, True))
    after = oracle.get_state()
    assert after["ongoing_trials"] == {} and after["start_order"] == ["01", "00", "02"]
    assert after["retry_queue"] == ["02"] and sorted(after["id_to_hash"]) == ["00", "01", "02"]
    assert len(after["tried_so_far"]) == 3


def test_rebuild_brackets_replays_hyperbands_own_bookkeeping(tmp_path):
    oracle = _tuner(tmp_path, "hyperband").oracle
    for i in range(12):  # past the first bracket's first round: later rounds warm-start from it
        _finish(oracle, i / 12)
    oracle.save()
    expected = oracle.get_state()
    fresh, report = _tuner(tmp_path, "hyperband").oracle, oracle_repair.new_report()
    trials = oracle_repair.load_trials(fresh, tmp_path / "p", report)
    fresh.trials = trials
    oracle_repair.rebuild_brackets(fresh, oracle_repair.in_order(trials))
    rebuilt = fresh.get_state()
    assert any(r for b in expected["brackets"] for r in b["rounds"][1:]), "the search reached a second round"
    assert (rebuilt["brackets"], rebuilt["current_bracket"], rebuilt["current_iteration"]) == (
        expected["brackets"], expected["current_bracket"], expected["current_iteration"])


def test_the_adapter_accepts_the_installed_versions_and_refuses_another_release_in_one_line():
    kt_adapter.check_versions()
    with pytest.raises(UnsupportedVersionError) as err:
        kt_adapter.check_versions(lambda package: "1.5.0" if package == "keras-tuner" else kt_adapter.installed_version(package))
    message = str(err.value)
    assert "\n" not in message and "keras-tuner 1.5.0 is installed" in message and "supports keras-tuner 1.4.x" in message


def test_an_unsupported_release_is_refused_before_a_run_is_recorded(tmp_path, monkeypatch):
    from autosearch.config import load_pipeline
    from autosearch.tracking import get_tracker
    from autosearch.workflows.search import run_search

    monkeypatch.setitem(kt_adapter.SUPPORTED, "keras-tuner", ("9.9", "9.9.0"))
    tracker = get_tracker(f"sqlite:///{tmp_path / 'tracker.db'}")
    with pytest.raises(UnsupportedVersionError, match="supports keras-tuner 9.9.x"):
        run_search(load_pipeline(PIPELINES / "structured.toml"), tracker, tmp_path)
    assert tracker.list_runs() == [] and not (tmp_path / "runs").exists()


def test_the_chief_oracles_reaper_loses_a_silent_worker_and_stops_when_asked(tmp_path):
    lost: list[tuple] = []
    oracle = harden(_tuner(tmp_path).oracle, lost_after=0.3, on_lost=lambda *a: lost.append(a), poll=0.05)
    trial = oracle.create_trial("worker-1")
    deadline = time.monotonic() + 10
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost and lost[0][:2] == ("worker-1", trial.trial_id)
    assert oracle.get_state()["retry_queue"] == [trial.trial_id]
    assert oracle.reaper.is_alive()
    oracle.stop_reaper(timeout=5)
    assert not oracle.reaper.is_alive()
    assert "autosearch-reaper" not in {t.name for t in threading.enumerate()}
