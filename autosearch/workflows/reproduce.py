"""Re-run a tracked trial from its recorded hyperparameters and seed, and say whether its result holds."""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autosearch.config import config_from_run
from autosearch.data import prepare_data
from autosearch.data.split import check_same_data
from autosearch.environment import environment
from autosearch.errors import ReproduceError, UnknownTrialError
from autosearch.tracking import Tracker, TrialKind, TrialRecord, TrialState
from autosearch.tracking.records import trial_id_of
from autosearch.tracking.registry import find_by_external_id
from autosearch.workflows.run_folder import ensure_run_folder

DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Reproduction:
    original: TrialRecord
    reproduced: TrialRecord
    tolerance: float
    data_changed: bool
    drift: Mapping[str, Any] = field(default_factory=dict)
    bundle: Path | None = None

    @property
    def difference(self) -> float | None:
        a, b = self.original.objective, self.reproduced.objective
        return None if a is None or b is None else b - a

    @property
    def holds(self) -> bool:
        return self.difference is not None and abs(self.difference) <= self.tolerance

    @property
    def max_epoch_loss_difference(self) -> float | None:
        pairs = list(zip(self.original.epochs, self.reproduced.epochs))
        if not pairs or len(self.original.epochs) != len(self.reproduced.epochs):
            return None
        return max(abs(a.metrics.get("loss", float("nan")) - b.metrics.get("loss", float("nan"))) for a, b in pairs)


def find_trial(tracker: Tracker, trial_id: str) -> TrialRecord:
    """The trial (by autosearch id, or by ClearML task id of its run or trial), else an error listing close ids."""
    try:
        return tracker.get_trial(trial_id)
    except UnknownTrialError:
        found = find_by_external_id(trial_id)  # e.g. a ClearML task id of a run or trial
        if found is not None:
            run_id, trial = found
            best = trial or tracker.get_run(run_id).best_trial_id
            if best:
                return tracker.get_trial(best)
        known = [t.trial_id for t in tracker.find_trials()]
        close = difflib.get_close_matches(trial_id, known, n=3, cutoff=0.5)
        hint = f"closest known ids: {', '.join(close)}" if close else "run 'autosearch leaderboard' to list ids"
        raise UnknownTrialError(f"trial '{trial_id}' not found in {tracker.uri}; {hint}.") from None


def environment_drift(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Package versions and machine facts that differ: {name: [recorded, now]}."""
    drift: dict[str, Any] = {}
    for section, keys in (("versions", None), ("machine", ("platform", "machine", "cpu_count", "host"))):
        old, new = recorded.get(section, {}), current.get(section, {})
        for key in keys or sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                drift[f"{section}.{key}"] = [old.get(key), new.get(key)]
    return drift


def reproduce(
    tracker: Tracker,
    trial_id: str,
    *,
    allow_data_change: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    export: bool = False,
    progress: Any = None,
) -> Reproduction:
    """Rebuild ``trial_id``'s model from its hyperparameters, train it again on the same split and seed.

    The new trial is recorded in the same run, of kind ``reproduction``, linked by
    ``reproduces``. Refuses when the data's fingerprint changed (unless
    ``allow_data_change``) and for Hyperband trials warm-started from a parent.
    """
    from autosearch.tuning.reproduction import train_trial_again

    original = find_trial(tracker, trial_id)
    _check_reproducible(original, trial_id)
    run = tracker.get_run(original.run_id)
    ensure_run_folder(tracker, run)  # a run read back from MLflow: its folder, when it was logged
    cfg = config_from_run(run.config, run.run_id)
    split = prepare_data(cfg)
    data_changed = split.fingerprint != run.fingerprint
    if not allow_data_change:
        check_same_data(split, run.run_id, run.fingerprint, "restore it, or pass --allow-data-change to reproduce "
                        "on the new data anyway (recorded with the trial)")
    drift = environment_drift(run.environment, environment())
    siblings = [t for t in tracker.find_trials([run.run_id]) if t.reproduces == original.trial_id]
    new_id = trial_id_of(run.run_id, f"{original.local_id}-r{len(siblings) + 1}")
    workdir = run.run_dir / "reproductions" / f"{original.local_id}-r{len(siblings) + 1}"
    record = TrialRecord(
        trial_id=new_id, run_id=run.run_id, kind=TrialKind.REPRODUCTION, state=TrialState.RUNNING,
        hyperparameters=dict(original.hyperparameters), seed=original.seed, started_at=time.time(),
        reproduces=original.trial_id,
        extra={"data_changed_allowed": data_changed, "fingerprint": split.fingerprint, "environment_drift": drift},
    )
    model, pipeline = train_trial_again(cfg, split, tracker, record, len(original.epochs), workdir, progress)
    reproduced = tracker.get_trial(new_id)
    bundle = _export(model, pipeline, cfg, split, reproduced, workdir / "export") if export else None
    return Reproduction(original, reproduced, tolerance, data_changed, drift, bundle)


def _check_reproducible(original: TrialRecord, trial_id: str) -> None:
    """Refuse a baseline, an unfinished trial and a Hyperband trial warm-started from a parent's checkpoint."""
    if original.kind is TrialKind.BASELINE:
        raise ReproduceError(f"{trial_id} is a baseline, not a searched model; reproduce a search trial.")
    if original.kind is TrialKind.ENSEMBLE:
        members = ", ".join(m["trial_id"] for m in original.extra.get("members", []))
        raise ReproduceError(f"{trial_id} is an ensemble, not one trained model; reproduce its member trials "
                             f"instead: {members}.")
    if original.state is not TrialState.COMPLETED or not original.epochs:
        raise ReproduceError(f"{trial_id} is {original.state.value} with {len(original.epochs)} recorded epochs; "
                             "only completed trials can be reproduced.")
    parent = original.warm_started_from
    if parent:
        raise ReproduceError(
            f"{trial_id} was warm-started by Hyperband from trial {original.run_id}/{parent}'s checkpoint "
            f"(tuner/initial_epoch = {original.hyperparameters.get('tuner/initial_epoch')}); autosearch does not "
            "replay parent chains, and a from-scratch run would not be this trial. Reproduce a trial with "
            "tuner/initial_epoch = 0."
        )


def _export(model: Any, pipeline: Any, cfg: Any, split: Any, reproduced: TrialRecord, out: Path) -> Path:
    """The reproduced model's bundle, scored on the test split as a search's best model is."""
    from autosearch.export.bundle import score_and_export

    return score_and_export(model, pipeline, cfg, split, (reproduced.run_id, reproduced.trial_id,
                                                          reproduced.objective), out)[1]


def render(result: Reproduction) -> str:
    o, r = result.original, result.reproduced
    objective = "objective"
    lines = [
        f"original    {o.trial_id}: {objective} {o.objective!r} (best epoch {(o.best_epoch or 0) + 1} of {len(o.epochs)})",
        f"reproduced  {r.trial_id}: {objective} {r.objective!r} (best epoch {(r.best_epoch or 0) + 1} of {len(r.epochs)})",
    ]
    diff = result.difference
    verdict = "HOLDS" if result.holds else "DOES NOT HOLD"
    lines.append(f"difference  {diff:+.3g} -> {verdict} (tolerance {result.tolerance:g})" if diff is not None
                 else "difference  - (no objective)")
    loss = result.max_epoch_loss_difference
    if loss is not None:
        lines.append(f"per-epoch training loss: largest difference {loss:.3g}")
    if result.data_changed:
        lines.append("data: CHANGED since the original run (allowed with --allow-data-change)")
    if result.drift:
        lines.append("environment differs from the original run: " +
                     "; ".join(f"{k} {a} -> {b}" for k, (a, b) in result.drift.items()))
    else:
        lines.append("environment: same package versions and machine as the original run")
    if result.bundle:
        lines.append(f"bundle: {result.bundle}")
    return "\n".join(lines)
