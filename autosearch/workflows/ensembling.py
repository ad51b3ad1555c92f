"""After the trials: the model a search exports, its best trial or an ensemble of its trials.

Every completed trial's outputs on the validation rows are kept (``tuning.heldout``); greedy selection with
replacement picks weighted members among the trials that share the best trial's fitted preprocessing
(``tuning.ensemble``), and the ensemble is exported when the cross-fitted decision says it beats picking
the best single trial. Either way an ``ensemble`` tracker row lists the members, their weights and its
margins; its objective is set only when it is the exported model. No test score is read here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.errors import ExportError
from autosearch.tracking import Tracker, TrialKind, TrialRecord, TrialState
from autosearch.tracking.records import trial_id_of
from autosearch.tuning import ensemble as ens
from autosearch.tuning.heldout import CROSSVAL, HeldOut, is_linear, preprocessing_of, read_outputs


@dataclass(frozen=True)
class Chosen:
    """The model a search exports: its tracker id, objective, the checkpoints that rebuild it."""

    trial_id: str
    objective: float | None
    keep: frozenset[str]  # KerasTuner ids whose checkpoints rebuild the model
    model: Any = field(repr=False)
    pipeline: Any = field(repr=False)
    manifest: Mapping[str, Any] = field(default_factory=dict)  # what the bundle's manifest adds


def choose_model(cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: SplitData,
                 outcome: Any, progress: Any) -> Chosen:
    """``outcome`` (``tuning.runner.SearchOutcome``)'s best trial, or the ensemble that beats it."""
    from autosearch.export.manifest import bundle_manifest
    from autosearch.export.outputs import model_outputs
    from autosearch.tuning.heldout import write_heldout

    best = tracker.get_trial(outcome.best_trial_id, with_epochs=False)
    single = Chosen(best.trial_id, outcome.best_objective, frozenset({str(best.keras_trial_id)}), outcome.model,
                    outcome.pipeline)
    if cfg.search.ensemble == "off":
        return single
    trials = [t for t in tracker.list_trials(run_id) if t.kind is TrialKind.SEARCH
              and t.state is TrialState.COMPLETED and t.objective is not None]
    manifest = bundle_manifest(cfg, split, run_id, best.trial_id, best.objective)
    held = write_heldout(cfg, split, run_dir, trials, lambda m, p, raw: model_outputs(m, p, manifest, raw))
    shared = preprocessing_of(run_dir, str(best.keras_trial_id))
    pool = [h for h in held if shared is not None and preprocessing_of(run_dir, h.keras_trial_id) == shared]
    pool.sort(key=lambda h: (h.trial.trial_id != best.trial_id,  # the best trial first: ties go to it
                             -h.trial.objective if cfg.search.direction == "max" else h.trial.objective))
    if len(pool) < 2 or pool[0].trial.trial_id != best.trial_id:
        return single
    selected = _select(cfg, split, run_dir, pool)
    if selected is None:
        return single
    pool, counts, decision, source = selected
    if sum(1 for c in counts if c) < 2:
        progress.message(f"ensemble: greedy selection keeps the best trial alone ({best.trial_id})")
        return single
    export = decision.export or cfg.search.ensemble == "always"
    record = _record(tracker, run_id, run_dir, cfg, split, pool, counts, decision, source, export)
    linear = record.extra.get("margin_over_best_linear_member")
    progress.message(f"ensemble {record.hyperparameters['members']}: cross-fitted {decision.metric} "
                     f"{decision.ensemble:+.4f} vs {decision.single:+.4f} for the best single trial (gain needed "
                     f"{decision.margin:.4f}): {'exported' if export else 'not exported'}; on validation "
                     f"{record.extra['margin_over_best_member']:+.4f} over its best member"
                     + (f", {linear:+.4f} over its best linear member" if linear is not None else ""))
    if not export:
        return single
    model, pipeline = rebuild_ensemble(cfg, split, run_dir, record)
    return Chosen(record.trial_id, record.objective, frozenset(m["keras_trial_id"] for m in record.extra["members"]),
                  model, pipeline, {"ensemble": {"members": list(record.extra["members"])}})


def _select(cfg: PipelineConfig, split: SplitData, run_dir: Path, pool: Sequence[HeldOut]
            ) -> tuple[list[HeldOut], list[int], ens.Decision, str] | None:
    """(the candidates used, greedy counts on all their rows, the cross-fitted decision, which outputs:
    "cv" or "heldout"). When the best trial (first) was cross-validated on small data, its out-of-fold
    outputs and those of the trials cross-validated with it (over the same rows) are used; else the held-out."""
    metric = ens.metric_of(cfg.search.objective, cfg.problem)
    cv = [read_outputs(run_dir, h.trial, CROSSVAL) for h in pool]
    first = cv[0]
    if first is not None:
        used = [(h, c) for h, c in zip(pool, cv) if c is not None and np.array_equal(c.rows, first.rows)]
        pool, outputs, y, source = [h for h, _ in used], [c.outputs for _, c in used], split.dataset.y[first.rows], "cv"
    elif all(np.array_equal(h.rows, split.indices["validation"]) for h in pool):
        outputs, y, source = [h.outputs for h in pool], split.y("validation"), "heldout"
    else:
        return None  # outputs of another split (a resumed run's data cannot change: check_same_data)
    if len(pool) < 2:
        return None
    latencies = [h.latency_ms for h in pool]
    counts = ens.greedy_select(outputs, y, metric, latencies=latencies)
    decision = ens.cross_fitted(outputs, y, metric, seed=cfg.search.seed, latencies=latencies)
    return list(pool), counts, decision, source


def _selection(cfg: PipelineConfig, split: SplitData, run_dir: Path, pool: Sequence[HeldOut], counts: Sequence[int],
               source: str) -> dict[str, Any]:
    """What the selection rule (``tracking.selection``) reads of the exported ensemble, as it reads a trial's:
    its out-of-fold fold scores (the members' ``cv.npz``, averaged) or its held-out rows and loss."""
    from autosearch.tracking.selection import fold_se, holdout_se

    loss = "log_loss" if cfg.problem == "classification" else "mse"
    if source == "cv":
        cv = [read_outputs(run_dir, h.trial, CROSSVAL) for h in pool]
        mean, y, fold = ens.weighted_mean([c.outputs for c in cv], counts), split.dataset.y[cv[0].rows], cv[0].fold
        folds = sorted(set(np.asarray(fold).tolist()))
        scores = [_objective(cfg, mean[fold == f], y[fold == f]) for f in folds]
        losses = [-float(np.mean(ens.row_scores(mean[fold == f], y[fold == f], loss))) for f in folds]
        return {"method": "cv", "cv": {"folds": len(folds), "scores": scores, "mean": float(np.mean(scores)),
                                       "se": fold_se(scores), "val_loss": float(np.mean(losses))}}
    mean, y = ens.weighted_mean([h.outputs for h in pool], counts), split.y("validation")
    value = _objective(cfg, mean, y)
    return {"method": "holdout", "validation_rows": int(len(y)),
            "val_loss": -float(np.mean(ens.row_scores(mean, y, loss))),
            "se": holdout_se(cfg.search.objective, value, int(len(y)))}


def _objective(cfg: PipelineConfig, outputs: np.ndarray, y: np.ndarray) -> float:
    """The search objective of ``outputs`` on the validation rows (accuracy, log loss, MAE or MSE)."""
    metric = ens.metric_of(cfg.search.objective, cfg.problem)
    mean = float(np.mean(ens.row_scores(outputs, y, metric)))
    return mean if metric == "accuracy" else -mean


def _record(tracker: Tracker, run_id: str, run_dir: Path, cfg: PipelineConfig, split: SplitData,
            pool: Sequence[HeldOut], counts: Sequence[int], decision: ens.Decision, source: str,
            export: bool) -> TrialRecord:
    """The ``ensemble`` row: members and weights, validation objective, margins (positive: the ensemble is
    better) over its best member, the run's best trial and the best linear member or trial."""
    y, sign = split.y("validation"), 1.0 if cfg.search.direction == "max" else -1.0
    total = float(sum(counts))
    members = [{"trial_id": h.trial.trial_id, "keras_trial_id": h.keras_trial_id, "weight": c / total,
                "linear": is_linear(h.trial), "validation": _objective(cfg, h.outputs, y)}
               for h, c in zip(pool, counts) if c]
    value = _objective(cfg, ens.weighted_mean([h.outputs for h in pool], counts), y)
    single = _objective(cfg, pool[0].outputs, y)
    linear = [m["validation"] for m in members if m["linear"]]
    linear_trials = [_objective(cfg, h.outputs, y) for h in pool if is_linear(h.trial)]
    best = max if sign > 0 else min
    extra = {
        "members": members, "validation": value, "exported": export, "outputs": source,
        "decision": decision.to_dict(),
        "caps": {"max_members": ens.MAX_MEMBERS, "max_latency_ms": ens.MAX_LATENCY_MS, "steps": ens.STEPS},
        "latency_ms": sum(h.latency_ms for h, c in zip(pool, counts) if c),
        "margin_over_best_member": sign * (value - best(m["validation"] for m in members)),
        "margin_over_best_single": sign * (value - single), "best_single": pool[0].trial.trial_id,
        **({"selection": _selection(cfg, split, run_dir, pool, counts, source)} if export else {}),
        **({"margin_over_best_linear_member": sign * (value - best(linear))} if linear else {}),
        **({"margin_over_best_linear_trial": sign * (value - best(linear_trials))} if linear_trials else {}),
    }
    earlier = [t for t in tracker.list_trials(run_id) if t.kind is TrialKind.ENSEMBLE]
    trial_id = trial_id_of(run_id, "ensemble" if not earlier else f"ensemble-{len(earlier) + 1}")
    now = time.time()
    weights = " + ".join(f"{m['weight']:.2f}×{m['keras_trial_id']}" for m in members)
    tracker.log_trial(TrialRecord(trial_id=trial_id, run_id=run_id, kind=TrialKind.ENSEMBLE,
                                  state=TrialState.RUNNING, hyperparameters={"members": weights},
                                  seed=cfg.search.seed, started_at=now))
    tracker.finish_trial(trial_id, TrialState.COMPLETED, ended_at=time.time(),
                         objective=value if export else None, extra=extra)
    return tracker.get_trial(trial_id, with_epochs=False)


def rebuild_ensemble(cfg: PipelineConfig, split: SplitData, run_dir: Path, record: TrialRecord) -> tuple[Any, Any]:
    """(the ensemble's Keras model, the preprocessing its members share) from its members' checkpoints;
    ``ExportError`` naming the members whose checkpoint is gone."""
    from autosearch.export.ensemble_model import ensemble_model
    from autosearch.tuning.checkpoints import checkpoint_path
    from autosearch.tuning.heldout import trial_models

    members = list(record.extra.get("members") or [])
    gone = [m["trial_id"] for m in members if not checkpoint_path(run_dir, m["keras_trial_id"]).is_file()]
    if not members or gone:
        raise ExportError(f"ensemble {record.trial_id} cannot be rebuilt: no checkpoint for member(s) "
                          f"{', '.join(gone) or '(none listed)'} in {run_dir}; export or reproduce a member instead.")
    weight = {m["keras_trial_id"]: float(m["weight"]) for m in members}
    loaded = list(trial_models(cfg, split, run_dir, list(weight)))
    model = ensemble_model([(kid, m) for kid, m, _ in loaded], [weight[kid] for kid, _, _ in loaded])
    return model, loaded[0][2]
