"""Resume a killed AutoKeras 3.0 / KerasTuner 1.4 search in a new process, in the same project folder.

On top of KerasTuner's own ``Oracle.reload`` (which re-queues the trial that was running, under
its own id): the ``trial_XX/trial.json`` files are the truth for each trial, ``oracle.json`` only
supplies the algorithm's state and is rebuilt from the trials when a kill truncated it; completed
trials are never retrained; the trial that was running is re-run under its id (it counts once
toward ``max_trials``), or closed as FAILED when it is in ``abandon`` (it killed the process
before), its budget slot given back. KerasTuner's JSON writes are made atomic.
Verified with keras-tuner 1.4.8 and autokeras 3.0.0 on the greedy, random, bayesian and
hyperband tuners (kills before, during and after every JSON write).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

INTERRUPTED = "interrupted: the search process died while this trial ran"


# ---------------------------------------------------------------- atomic JSON writes

def install_atomic_json() -> None:
    """Make KerasTuner's JSON writes (oracle.json, trial_*/trial.json, tuner0.json) atomic.

    KerasTuner writes them in place (``open(path, "w").write(...)``): a SIGKILL or power loss
    during the write leaves a truncated file that ``reload`` cannot parse. Writing a temporary
    file in the same folder and ``os.replace``-ing it leaves either the old or the new version.
    """
    from keras_tuner.src import utils

    if getattr(utils.save_json, "atomic", False):
        return
    original = utils.save_json

    def save_json(path: Any, obj: Any) -> str:
        path = str(path)
        if "://" in path:  # gs:// and friends: not a local rename
            return original(path, obj)
        text = json.dumps(obj)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path) or ".")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return text

    save_json.atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json


# ---------------------------------------------------------------- reading the project

def _load_trials(project: Path) -> tuple[dict[str, Any], list[Path]]:
    """Trials from ``trial_*/trial.json`` and the folders whose json is missing or unreadable."""
    from keras_tuner.src.engine.trial import Trial

    trials: dict[str, Any] = {}
    broken: list[Path] = []
    for folder in sorted(project.glob("trial_*")):
        if not folder.is_dir():
            continue
        try:
            trial = Trial.load(str(folder / "trial.json"))
            if f"trial_{trial.trial_id}" != folder.name:
                raise ValueError(f"{folder}: trial_id {trial.trial_id!r}")
        except Exception:  # noqa: BLE001 - FileNotFoundError, JSONDecodeError, KeyError, ...
            broken.append(folder)
            continue
        trials[trial.trial_id] = trial
    return trials, broken


def _load_oracle_json(project: Path) -> tuple[dict | None, str]:
    path = project / "oracle.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None, "missing"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    needed = {"ongoing_trials", "hyperparameters", "start_order", "end_order", "run_times", "retry_queue",
              "seed", "seed_state", "tried_so_far", "id_to_hash", "display"}
    if not isinstance(state, dict) or not needed <= state.keys():
        return None, "incomplete"
    return state, "ok"


def _int_id(trial_id: str) -> int:
    try:
        return int(trial_id)
    except ValueError:
        return 1 << 30


# ---------------------------------------------------------------- rebuilding oracle.json

def _rebuild_state(oracle: Any, trials_in_order: list[Any]) -> None:
    """The parts of oracle.json that the trials imply, on an oracle fresh from its constructor."""
    for trial in trials_in_order:  # the space grows during the search (conditional blocks)
        with contextlib.suppress(Exception):
            oracle.update_space(trial.hyperparameters)
    # Random draws use seeds seed_state, seed_state+1, ...: start past any seed used before so
    # the resumed search does not replay the old draws (duplicates would be refused anyway).
    used = sum(len(t.hyperparameters.space) + 1 for t in trials_in_order) * (oracle._max_collisions + 1)
    oracle._seed_state = oracle.seed + used
    if hasattr(oracle, "_tried_initial_hps"):  # AutoKeras GreedyOracle: the first trials used initial_hps
        n = len(trials_in_order)
        oracle._tried_initial_hps = [i < n for i in range(len(oracle.initial_hps))]
    if hasattr(oracle, "_brackets"):  # KerasTuner HyperbandOracle
        _rebuild_brackets(oracle, trials_in_order)


def _rebuild_brackets(oracle: Any, trials_in_order: list[Any]) -> None:
    """Replay HyperbandOracle's bracket bookkeeping from the trials' tuner/* values."""
    n_brackets = oracle._get_num_brackets()
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
            if last["bracket_num"] != bracket_num or len(last["rounds"][0]) >= oracle._get_size(bracket_num, 0):
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
    oracle._brackets, oracle._current_bracket, oracle._current_iteration = brackets, current, iteration


# ---------------------------------------------------------------- the resume itself

def resume_oracle(oracle: Any, project: Path, abandon: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Load and repair ``oracle`` (fresh from its constructor) from ``project``; returns a report.

    Replaces ``Oracle.reload``; the caller saves (``tuner.save()``). Interrupted trials are re-run
    under their own id, except those in ``abandon``, which are closed as FAILED.
    """
    from keras_tuner.src.engine import metrics_tracking
    from keras_tuner.src.engine.trial import TrialStatus as TS

    report: dict[str, Any] = {"oracle_json": None, "removed": [], "interrupted": [], "rerun": [],
                              "abandoned": [], "completed_kept": [], "ended_late": [], "rescored": []}
    trials, broken = _load_trials(project)
    newest = max((_int_id(t) for t in trials), default=-1)
    for folder in broken:  # the trial being written when the process died (always the newest)
        trial_id = folder.name[len("trial_"):]
        if _int_id(trial_id) > newest:
            shutil.rmtree(folder, ignore_errors=True)
            report["removed"].append(trial_id)
        else:  # cannot happen with one tuner; keep the id taken so the next id stays unique
            from keras_tuner.src.engine.trial import Trial

            placeholder = Trial(oracle.get_space(), trial_id=trial_id, status=TS.FAILED)
            placeholder.message = "trial.json unreadable after a crash"
            trials[trial_id] = placeholder
            report["removed"].append(trial_id + " (kept as FAILED placeholder)")
    for tmp in project.glob("**/.tmp-*.json"):
        with contextlib.suppress(OSError):
            tmp.unlink()

    state, report["oracle_json"] = _load_oracle_json(project)
    oracle.trials = trials
    in_order = sorted(trials.values(), key=lambda t: _int_id(t.trial_id))
    if state is not None:
        state["ongoing_trials"] = {k: v for k, v in state["ongoing_trials"].items() if v in trials}
        if hasattr(oracle, "_brackets") and "brackets" in state:  # drop removed trials from the brackets
            for bracket in state["brackets"]:
                bracket["rounds"] = [[i for i in r if i["id"] in trials] for r in bracket["rounds"]]
        try:
            oracle.set_state(state)
        except Exception as exc:  # noqa: BLE001
            report["oracle_json"] = f"unusable ({type(exc).__name__}: {exc})"
            state = None
    if state is None:
        _rebuild_state(oracle, in_order)
        report["oracle_json"] += " -> rebuilt from trial.json files"

    max_runs = oracle.max_retries_per_trial + 1
    end_order = [i for i in dict.fromkeys(oracle.end_order) if i in trials]
    retry = [i for i in dict.fromkeys(oracle._retry_queue) if i in trials]
    for trial in in_order:
        tid = trial.trial_id
        if trial.status == TS.COMPLETED and trial.score is None:
            name = getattr(oracle.objective, "name", None)
            if name and trial.metrics.exists(name):
                oracle.score_trial(trial)
                report["rescored"].append(tid)
            else:
                trial.status = TS.RUNNING
        if trial.status == TS.INVALID and oracle._run_times[tid] >= max_runs:
            trial.status = TS.FAILED
        if trial.status in (TS.COMPLETED, TS.FAILED):
            if tid not in end_order:  # killed after trial.json said so, before oracle.json did
                end_order.append(tid)
                if state is not None:
                    report["ended_late"].append(tid)
            if tid in retry:
                retry.remove(tid)
            if trial.status == TS.COMPLETED:
                report["completed_kept"].append(tid)
            continue
        if trial.status == TS.INVALID:  # crashed, waiting for a retry KerasTuner granted
            if tid not in retry:
                retry.append(tid)
            continue
        # RUNNING (or any other state): the process died during this trial.
        report["interrupted"].append(tid)
        trial.metrics = metrics_tracking.MetricsTracker()  # a re-run would otherwise average old+new
        trial.score = trial.best_step = None
        if tid in end_order:
            end_order.remove(tid)
        if tid not in abandon:
            trial.message = None
            if tid not in retry:
                retry.append(tid)
            report["rerun"].append(tid)
        else:
            trial.status, trial.message = TS.FAILED, INTERRUPTED
            if tid in retry:
                retry.remove(tid)
            report["abandoned"].append(tid)
            for bracket in getattr(oracle, "_brackets", []):  # free its Hyperband slot
                bracket["rounds"] = [[i for i in r if i["id"] != tid] for r in bracket["rounds"]]
        oracle._save_trial(trial)
    # Closed interrupted trials (this and earlier resumes) must not use up max_trials; the tuner adds
    # them when the search starts (AutoKeras' Hyperband sets oracle.max_trials after reload).
    report["closed_interrupted"] = sum(1 for t in trials.values() if t.status == TS.FAILED and t.message == INTERRUPTED)

    oracle.end_order = end_order
    oracle._retry_queue = retry
    oracle.ongoing_trials = {}
    oracle.start_order = [i for i in dict.fromkeys(oracle.start_order) if i in trials]
    oracle.start_order += [t.trial_id for t in in_order if t.trial_id not in oracle.start_order]
    oracle._run_times = collections.defaultdict(lambda: 0, {k: v for k, v in oracle._run_times.items() if k in trials})
    oracle._tried_so_far = set()
    oracle._id_to_hash = collections.defaultdict(lambda: None)
    for trial in in_order:
        oracle._record_values(trial)
    ids = sorted(_int_id(i) for i in trials)
    report["trials"] = len(trials)
    report["dense_ids"] = ids == list(range(len(ids)))  # the next id, len(trials), is then new
    oracle.save()
    return report


# ---------------------------------------------------------------- the tracker, agreeing with KerasTuner

def record_finished_trainings(tracker: Any, run_id: str, project: Path, objective: str, direction: str) -> list[str]:
    """Record COMPLETED the trials whose ``trial.json`` says KerasTuner finished them but whose tracker row is
    still stored RUNNING: the process died between KerasTuner's end of the trial and the tracker's (its
    epochs, written before, are all there). Objective and best epoch come from those epochs, as the hooks
    compute them. Call before ``restart_run``, which would close them INTERRUPTED while KerasTuner, which
    never re-runs a finished trial, counts them done. Returns the tracker ids recorded."""
    from autosearch.errors import TrialFinishedError
    from autosearch.tracking import TrialKind, TrialState

    finished = set()
    for path in project.glob("trial_*/trial.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads(path.read_text()).get("status") == "COMPLETED":
                finished.add(path.parent.name[len("trial_"):])
    latest = {t.keras_trial_id: t for t in tracker.list_trials(run_id, with_epochs=True) if t.kind is TrialKind.SEARCH}
    recorded = []
    for keras_id in sorted(finished & latest.keys()):
        trial = latest[keras_id]  # the last attempt: only it can still be stored RUNNING
        scores = [(e.epoch, e.metrics.get(objective)) for e in trial.epochs]
        scores = [(epoch, v) for epoch, v in scores if isinstance(v, (int, float)) and math.isfinite(v)]
        if trial.state is TrialState.COMPLETED or not scores:
            continue
        best_epoch, best = (max if direction == "max" else min)(scores, key=lambda ev: ev[1])
        summary = project.parent / "trials" / keras_id / "model_summary.txt"
        try:
            tracker.finish_trial(trial.trial_id, TrialState.COMPLETED, ended_at=trial.epochs[-1].timestamp,
                                 objective=best, best_epoch=best_epoch, extra={
                                     "keras_tuner_status": "COMPLETED", "recorded_from": "trial.json",
                                     **({"model_summary": f"trials/{keras_id}/model_summary.txt"}
                                        if summary.is_file() else {})})
        except TrialFinishedError:
            continue  # closed by an earlier resume: finished rows are read-only
        recorded.append(trial.trial_id)
    return recorded


def _ensure_tuner_file(project: Path) -> None:
    """KerasTuner reloads only when tuner0.json exists, and writes it at the end of the first
    trial: a kill before that would start over and overwrite trial_0. Create it."""
    tuner_file = project / f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"
    if not tuner_file.exists() and any(project.glob("trial_*")):
        tuner_file.write_text(json.dumps({"finished": False}))


class ResumableTunerMixin:
    """Put first in the bases of an AutoKeras tuner class: ``class T(ResumableTunerMixin, ak.tuners.Greedy)``."""

    abandon: frozenset[str] = frozenset()  # KerasTuner ids of interrupted trials to close instead of re-run
    resume_report: dict[str, Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        if not kwargs.get("overwrite") and kwargs.get("directory") is not None:
            _ensure_tuner_file(Path(str(kwargs["directory"]), kwargs.get("project_name") or "untitled_project"))
        super().__init__(*args, **kwargs)

    def reload(self) -> None:  # called by BaseTuner.__init__ when tuner0.json exists and overwrite=False
        from keras_tuner.src import utils

        self.resume_report = resume_oracle(self.oracle, Path(self.project_dir), self.abandon)
        try:
            self.set_state(utils.load_json(self._get_tuner_fname()))
        except Exception:  # noqa: BLE001
            self.resume_report["tuner_json"] = "unreadable -> reset"
        self._finished = False  # AutoKeras: let search() run its end (best_model.keras, best_pipeline)
        self.save()

    def on_search_begin(self) -> None:
        super().on_search_begin()
        closed = (self.resume_report or {}).get("closed_interrupted", 0)
        if closed and self.oracle.max_trials:
            self.oracle.max_trials += closed
