"""The steps that bring a killed search's KerasTuner oracle back, each on its own (``resume.resume_oracle``
runs them in this order):

1. ``load_trials``: the ``trial_*/trial.json`` files are the truth for each trial; the folder of the trial
   being written when the process died is removed (or kept as a FAILED placeholder when it is not the
   newest); stray temporary files go.
2. ``restore_state``: ``oracle.json`` supplies the algorithm's state, or it is rebuilt from the trials
   (``rebuild_state``, ``rebuild_brackets``) when a kill truncated it.
3. ``settle_trials``: each trial is kept (completed, failed), left for the retry KerasTuner granted, re-run
   under its own id (interrupted) or closed as FAILED (interrupted, in ``abandon``).
4. ``reindex``: the oracle's orders, queues and index of tried values are made to agree with the trials.

Every private name of the Oracle is reached through ``kt_adapter``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from autosearch.tuning import kt_adapter as kt

INTERRUPTED = "interrupted: the search process died while this trial ran"
ORACLE_KEYS = {"ongoing_trials", "hyperparameters", "start_order", "end_order", "run_times", "retry_queue",
               "seed", "seed_state", "tried_so_far", "id_to_hash", "display"}


def new_report() -> dict[str, Any]:
    return {"oracle_json": None, "removed": [], "interrupted": [], "rerun": [], "abandoned": [],
            "completed_kept": [], "ended_late": [], "rescored": []}


def int_id(trial_id: str) -> int:
    try:
        return int(trial_id)
    except ValueError:
        return 1 << 30


def read_trials(project: Path) -> tuple[dict[str, Any], list[Path]]:
    """Trials from ``trial_*/trial.json`` and the folders whose json is missing or unreadable."""
    trials: dict[str, Any] = {}
    broken: list[Path] = []
    for folder in sorted(project.glob("trial_*")):
        if not folder.is_dir():
            continue
        try:
            trial = kt.load_trial(folder / "trial.json")
            if f"trial_{trial.trial_id}" != folder.name:
                raise ValueError(f"{folder}: trial_id {trial.trial_id!r}")
        except Exception:  # noqa: BLE001 - FileNotFoundError, JSONDecodeError, KeyError, ...
            broken.append(folder)
            continue
        trials[trial.trial_id] = trial
    return trials, broken


def load_trials(oracle: Any, project: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Step 1: the project's trials by id; a broken newest folder removed, an older one a FAILED placeholder."""
    trials, broken = read_trials(project)
    newest = max((int_id(t) for t in trials), default=-1)
    for folder in broken:  # the trial being written when the process died (always the newest)
        trial_id = folder.name[len("trial_"):]
        if int_id(trial_id) > newest:
            shutil.rmtree(folder, ignore_errors=True)
            report["removed"].append(trial_id)
        else:  # cannot happen with one tuner; keep the id taken so the next id stays unique
            placeholder = kt.new_trial(oracle.get_space(), trial_id, kt.trial_status().FAILED)
            placeholder.message = "trial.json unreadable after a crash"
            trials[trial_id] = placeholder
            report["removed"].append(trial_id + " (kept as FAILED placeholder)")
    for tmp in project.glob("**/.tmp-*.json"):
        with contextlib.suppress(OSError):
            tmp.unlink()
    return trials


def read_oracle_json(project: Path) -> tuple[dict | None, str]:
    """(oracle.json's state, "ok"), or (None, why it cannot be used)."""
    try:
        state = json.loads((project / "oracle.json").read_text())
    except FileNotFoundError:
        return None, "missing"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(state, dict) or not ORACLE_KEYS <= state.keys():
        return None, "incomplete"
    return state, "ok"


def restore_state(oracle: Any, project: Path, trials: dict[str, Any], report: dict[str, Any]) -> bool:
    """Step 2: set the oracle's trials and its state from oracle.json (the removed trials left out), else
    rebuilt from the trials; True when oracle.json was used."""
    state, report["oracle_json"] = read_oracle_json(project)
    oracle.trials = trials
    if state is not None:
        state["ongoing_trials"] = {k: v for k, v in state["ongoing_trials"].items() if v in trials}
        if kt.is_hyperband(oracle) and "brackets" in state:  # drop removed trials from the brackets
            for bracket in state["brackets"]:
                bracket["rounds"] = [[i for i in r if i["id"] in trials] for r in bracket["rounds"]]
        try:
            oracle.set_state(state)
            return True
        except Exception as exc:  # noqa: BLE001
            report["oracle_json"] = f"unusable ({type(exc).__name__}: {exc})"
    rebuild_state(oracle, in_order(trials))
    report["oracle_json"] += " -> rebuilt from trial.json files"
    return False


def in_order(trials: dict[str, Any]) -> list[Any]:
    return sorted(trials.values(), key=lambda t: int_id(t.trial_id))


def rebuild_state(oracle: Any, trials_in_order: list[Any]) -> None:
    """The parts of oracle.json that the trials imply, on an oracle fresh from its constructor."""
    for trial in trials_in_order:  # the space grows during the search (conditional blocks)
        with contextlib.suppress(Exception):
            oracle.update_space(trial.hyperparameters)
    kt.seed_past(oracle, trials_in_order)
    kt.mark_initial_hps_tried(oracle, len(trials_in_order))
    if kt.is_hyperband(oracle):
        rebuild_brackets(oracle, trials_in_order)


def rebuild_brackets(oracle: Any, trials_in_order: list[Any]) -> None:
    """Replay HyperbandOracle's bracket bookkeeping from the trials' tuner/* values."""
    n_brackets, size = kt.bracket_sizes(oracle)
    current, iteration = n_brackets - 1, 0  # the bracket the constructor opens
    brackets = [{"bracket_num": current, "rounds": [[] for _ in range(current + 1)]}]
    for trial in trials_in_order:
        values = trial.hyperparameters.values
        if "tuner/round" not in values:
            continue
        trial_id, round_num = trial.trial_id, int(values["tuner/round"])
        if round_num == 0:
            bracket_num = int(values["tuner/bracket"])
            last = brackets[-1]
            if last["bracket_num"] != bracket_num or len(last["rounds"][0]) >= size(bracket_num, 0):
                while True:  # _increment_bracket_num until this trial's bracket
                    current -= 1
                    if current < 0:
                        current, iteration = n_brackets - 1, iteration + 1
                    if current == bracket_num:
                        break
                brackets.append({"bracket_num": current, "rounds": [[] for _ in range(current + 1)]})
            brackets[-1]["rounds"][0].append({"past_id": None, "id": trial_id})
        else:
            past = values.get("tuner/trial_id")
            for bracket in reversed(brackets):
                rounds = bracket["rounds"]
                if round_num < len(rounds) and any(i["id"] == past for i in rounds[round_num - 1]):
                    rounds[round_num].append({"past_id": past, "id": trial_id})
                    break
    kt.set_brackets(oracle, brackets, current, iteration)


def settle_trials(oracle: Any, trials: dict[str, Any], abandon: frozenset[str], report: dict[str, Any],
                  from_json: bool) -> tuple[list[str], list[str]]:
    """Step 3: each trial kept, left for its retry, re-run or closed; (end order, retry queue)."""
    TS = kt.trial_status()
    max_runs = oracle.max_retries_per_trial + 1
    end_order = [i for i in dict.fromkeys(oracle.end_order) if i in trials]
    retry = [i for i in dict.fromkeys(kt.retry_queue(oracle)) if i in trials]
    for trial in in_order(trials):
        tid = trial.trial_id
        _rescore(oracle, trial, report)
        if trial.status == TS.INVALID and kt.run_times(oracle)[tid] >= max_runs:
            trial.status = TS.FAILED
        if trial.status in (TS.COMPLETED, TS.FAILED):
            if tid not in end_order:  # killed after trial.json said so, before oracle.json did
                end_order.append(tid)
                if from_json:
                    report["ended_late"].append(tid)
            _drop(retry, tid)
            if trial.status == TS.COMPLETED:
                report["completed_kept"].append(tid)
        elif trial.status == TS.INVALID:  # crashed, waiting for a retry KerasTuner granted
            if tid not in retry:
                retry.append(tid)
        else:  # RUNNING (or any other state): the process died during this trial
            interrupted(oracle, trial, tid in abandon, end_order, retry, report)
    return end_order, retry


def _drop(ids: list[str], trial_id: str) -> None:
    if trial_id in ids:
        ids.remove(trial_id)


def _rescore(oracle: Any, trial: Any, report: dict[str, Any]) -> None:
    """A COMPLETED trial without a score: scored from its metrics, else (none) it did not really end."""
    TS = kt.trial_status()
    if trial.status == TS.COMPLETED and trial.score is None:
        name = getattr(oracle.objective, "name", None)
        if name and trial.metrics.exists(name):
            oracle.score_trial(trial)
            report["rescored"].append(trial.trial_id)
        else:
            trial.status = TS.RUNNING


def interrupted(oracle: Any, trial: Any, abandon: bool, end_order: list[str], retry: list[str],
                report: dict[str, Any]) -> None:
    """A trial the process died in: its metrics cleared, queued to re-run under its id, or (``abandon``) closed
    FAILED and its Hyperband slot freed."""
    tid = trial.trial_id
    report["interrupted"].append(tid)
    trial.metrics = kt.new_metrics()  # a re-run would otherwise average old+new
    trial.score = trial.best_step = None
    _drop(end_order, tid)
    if not abandon:
        trial.message = None
        if tid not in retry:
            retry.append(tid)
        report["rerun"].append(tid)
    else:
        trial.status, trial.message = kt.trial_status().FAILED, INTERRUPTED
        _drop(retry, tid)
        report["abandoned"].append(tid)
        for bracket in kt.brackets(oracle):  # free its Hyperband slot
            bracket["rounds"] = [[i for i in r if i["id"] != tid] for r in bracket["rounds"]]
    kt.save_trial(oracle, trial)


def reindex(oracle: Any, end_order: list[str], retry: list[str]) -> None:
    """Step 4: orders, queues, run counts and the index of tried values, agreeing with ``oracle.trials``."""
    trials = oracle.trials
    start = [i for i in dict.fromkeys(oracle.start_order) if i in trials]
    start += [t.trial_id for t in in_order(trials) if t.trial_id not in start]
    kt.set_queues(oracle, end_order, retry, start)
    kt.reindex(oracle, in_order(trials))


def closed_interrupted(trials: dict[str, Any]) -> int:
    """Interrupted trials closed (by this and earlier resumes): they must not use up ``max_trials``."""
    return sum(1 for t in trials.values() if t.status == kt.trial_status().FAILED and t.message == INTERRUPTED)
