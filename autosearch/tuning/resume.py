"""Resume a killed AutoKeras 3.0 / KerasTuner 1.4 search in a new process, in the same project folder.

On top of KerasTuner's own ``Oracle.reload`` (which re-queues the trial that was running, under
its own id): the ``trial_XX/trial.json`` files are the truth for each trial, ``oracle.json`` only
supplies the algorithm's state and is rebuilt from the trials when a kill truncated it; completed
trials are never retrained; the trial that was running is re-run under its id (it counts once
toward ``max_trials``), or closed as FAILED when it is in ``abandon`` (it killed the process
before), its budget slot given back (the steps: ``oracle_repair``). KerasTuner's JSON writes are made atomic.
Verified with keras-tuner 1.4.8 and autokeras 3.0.0 on the greedy, random, bayesian and
hyperband tuners (kills before, during and after every JSON write).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from autosearch.tuning import kt_adapter as kt
from autosearch.tuning import oracle_repair as repair


# ---------------------------------------------------------------- atomic JSON writes

def install_atomic_json() -> None:
    """Make KerasTuner's JSON writes (oracle.json, trial_*/trial.json, tuner0.json) atomic.

    KerasTuner writes them in place (``open(path, "w").write(...)``): a SIGKILL or power loss
    during the write leaves a truncated file that ``reload`` cannot parse. Writing a temporary
    file in the same folder and ``os.replace``-ing it leaves either the old or the new version.
    """
    def wrap(original: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
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

        return save_json

    kt.wrap_save_json(wrap)


# ---------------------------------------------------------------- the resume itself

def resume_oracle(oracle: Any, project: Path, abandon: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Load and repair ``oracle`` (fresh from its constructor) from ``project``; returns a report.

    Replaces ``Oracle.reload``; the caller saves (``tuner.save()``). Interrupted trials are re-run
    under their own id, except those in ``abandon``, which are closed as FAILED. The steps are
    ``oracle_repair``'s, in its order.
    """
    report = repair.new_report()
    trials = repair.load_trials(oracle, project, report)
    from_json = repair.restore_state(oracle, project, trials, report)
    end_order, retry = repair.settle_trials(oracle, trials, abandon, report, from_json)
    # Closed interrupted trials (this and earlier resumes) must not use up max_trials; the tuner adds
    # them when the search starts (AutoKeras' Hyperband sets oracle.max_trials after reload).
    report["closed_interrupted"] = repair.closed_interrupted(trials)
    repair.reindex(oracle, end_order, retry)
    ids = sorted(repair.int_id(i) for i in trials)
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
        self.resume_report = resume_oracle(self.oracle, Path(self.project_dir), self.abandon)
        try:
            self.set_state(kt.load_json(kt.tuner_file(self)))
        except Exception:  # noqa: BLE001
            self.resume_report["tuner_json"] = "unreadable -> reset"
        kt.reopen_search(self)
        self.save()

    def on_search_begin(self) -> None:
        super().on_search_begin()
        closed = (self.resume_report or {}).get("closed_interrupted", 0)
        if closed and self.oracle.max_trials:
            self.oracle.max_trials += closed
