"""The selection rule (``tracking.selection``) inside a search: what each trial records for it, the
cross-validation of small data (``tuning.crossval``), and the oracle's ranking.

A ``Selector`` wraps the tracked tuner class (``policy.tuner_class``). As a trial ends, before KerasTuner
scores it and the hooks record it, the selector notes what the rule reads (``extra["selection"]``: the
method, the validation rows and the threshold, the best epoch's validation loss, and under cross-validation
the fold scores, their mean, spread and standard error) and, on small data, cross-validates the trial when it
is within reach of the best. The oracle's ``get_best_trials`` (what ``tuner.get_best_model()``,
``get_best_pipeline()`` and the greedy oracle's next trial start from) orders the trials by the same rule, and
the hooks' best trial (the checkpoint kept while pruning, the progress line) is the rule's pick too.

Which trials are cross-validated, and so what it costs: on small data only (``crossval.uses_cv``); a trial
whose holdout score is more than two of the best's standard errors below the best holdout score so far is
not (it cannot be the pick); nor is one once the time budget is spent, or when its ``FOLDS`` fold fits,
estimated from its own fit's time, would overrun the budget. Those rank after the cross-validated ones.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Iterable

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.tracking import TrialKind, TrialRecord, TrialState
from autosearch.tracking.selection import SELECTION, Candidate, candidate, candidate_of, choose, holdout_se, rank
from autosearch.tuning import crossval
from autosearch.tuning import kt_adapter as kt
from autosearch.tuning.policy import SearchPolicy

REACH = 2.0  # standard errors below the best holdout score within which a trial is cross-validated


class Selector:
    """The rule's bookkeeping for one search process (see the module doc)."""

    def __init__(self, cfg: PipelineConfig, split: SplitData, run_id: str, run_dir: Path,
                 outputs: crossval.Outputs | None = None, earlier: Iterable[TrialRecord] = ()):
        self.cfg, self.split, self.run_id, self.run_dir, self.outputs = cfg, split, run_id, run_dir, outputs
        self.validation_rows = len(split.indices["validation"])
        self.cv = crossval.uses_cv(cfg, split)
        self.book: dict[str, Candidate] = {}  # KerasTuner id -> the rule's view of its completed trial
        self.holdout: dict[str, float] = {}  # KerasTuner id -> its holdout objective
        self.began: dict[str, float] = {}
        self.hooks: Any = None
        for record in earlier:
            found = candidate_of(record, cfg.search.objective, self.validation_rows)
            if record.kind is TrialKind.SEARCH and found is not None:
                self.book[str(record.keras_trial_id)] = found
                self.holdout[str(record.keras_trial_id)] = float(record.objective)

    def attach(self, hooks: Any) -> None:
        self.hooks = hooks
        hooks.chooser = self.choose_live

    @property
    def record(self) -> dict[str, Any]:
        """What the run's summary records of its selection."""
        return {"method": "cv" if self.cv else "holdout", "validation_rows": self.validation_rows,
                "cv_below_validation_rows": crossval.cv_below_rows(), "folds": crossval.FOLDS,
                "cross_validated": sorted(c.trial_id for c in self.book.values() if c.cross_validated)}

    # ------------------------------------------------------------ the rule over KerasTuner's and the hooks' trials

    def order(self, trials: list[Any]) -> list[Any]:
        """KerasTuner's completed ``trials``, best first by the rule."""
        by_id, found = {}, []
        for trial in trials:
            known = self.book.get(trial.trial_id) or self._from_kerastuner(trial)
            if known is not None:
                by_id[known.trial_id] = trial
                found.append(known)
        ranked = [by_id[c.trial_id] for c in rank(found, self.cfg.search.direction)]
        return ranked + [t for t in trials if t not in ranked]

    def _from_kerastuner(self, trial: Any) -> Candidate | None:
        return candidate(trial.trial_id, trial.score, None, None, self.cfg.search.objective, self.validation_rows,
                         self.run_id, _val_loss(trial))

    def choose_live(self, done: list[Any]) -> Any:
        """The hooks' best finished trial (``hooks.LiveTrial``) by the rule, or None."""
        by_id, found = {}, []
        for live in done:
            if live.objective is None:
                continue
            known = self.book.get(live.keras_trial_id)
            if known is None or known.trial_id != live.trial_id:
                known = candidate(live.trial_id, live.objective, None, live.params, self.cfg.search.objective,
                                  self.validation_rows, self.run_id)
            if known is not None:
                by_id[known.trial_id] = live
                found.append(known)
        pick = choose(found, self.cfg.search.direction)
        return None if pick is None else by_id[pick.trial_id]

    # ------------------------------------------------------------ as a trial ends

    def trial_ending(self, trial: Any, completed: bool) -> None:
        """Note what the rule reads of ``trial`` (and cross-validate it, on small data) before it is recorded."""
        hooks = self.hooks
        live = hooks.trials.get(hooks.full_id(trial))
        scores = [v for v in (live.history if live else []) if v is not None and math.isfinite(v)]
        if live is None or not completed or hooks.diverged(trial) or not scores:
            return
        sign = 1.0 if self.cfg.search.direction == "max" else -1.0
        best_index = max(range(len(live.history)), key=lambda i: -math.inf if live.history[i] is None
                         or not math.isfinite(live.history[i]) else (sign * live.history[i], -i))
        objective = float(live.history[best_index])
        selection: dict[str, Any] = {
            "method": "holdout", "validation_rows": self.validation_rows,
            "cv_below_validation_rows": crossval.cv_below_rows(), "val_loss": _val_loss(trial),
            "se": holdout_se(self.cfg.search.objective, objective, self.validation_rows)}
        if self.cv:
            skip = self._skip_reason(trial.trial_id, objective, best_index + 1, len(live.history))
            if skip:
                selection["cv_skipped"] = skip
            else:
                selection.update(method="cv", cv=self._cross_validate(trial, live, best_index + 1))
        live.notes[SELECTION] = selection
        self.holdout[trial.trial_id] = objective
        self.book[trial.trial_id] = candidate(live.trial_id, objective, selection, live.params,
                                              self.cfg.search.objective, self.validation_rows, self.run_id)

    def _skip_reason(self, keras_trial_id: str, objective: float, epochs: int, trained: int) -> str | None:
        sign = 1.0 if self.cfg.search.direction == "max" else -1.0
        if self.holdout:
            best = max(self.holdout.values(), key=lambda v: sign * v)
            reach = REACH * holdout_se(self.cfg.search.objective, best, self.validation_rows)
            if sign * (best - objective) > reach:
                return f"holdout {objective:.4f} is more than {REACH:g} standard errors from the best ({best:.4f})"
        budget = self.cfg.search.time_budget
        if budget is not None:
            spent = time.monotonic() - self.hooks.started
            fit = time.monotonic() - self.began.get(keras_trial_id, time.monotonic())
            estimate = crossval.FOLDS * fit * epochs / max(1, trained)  # each fold trains `epochs` on 80% of the rows
            if spent + estimate > budget:
                return f"its {crossval.FOLDS} fold fits (about {estimate:.0f}s) would overrun the time budget"
        return None

    def _cross_validate(self, trial: Any, live: Any, epochs: int) -> dict[str, Any]:
        record = TrialRecord(trial_id=live.trial_id, run_id=self.run_id, kind=TrialKind.SEARCH,
                             state=TrialState.RUNNING, hyperparameters=dict(trial.hyperparameters.values),
                             seed=self.hooks.seed_for(trial), started_at=time.time())
        folder = self.run_dir / "trials" / trial.trial_id
        result = crossval.cross_validate(self.cfg, self.split, record, epochs, folder / "cv-folds", self.outputs)
        crossval.save_outputs(result, folder / crossval.CROSSVAL)
        self.hooks.progress.message(
            f"trial {live.trial_id}: {len(result.scores)}-fold cross-validated {self.cfg.search.objective} "
            f"{result.mean:.4f} ± {result.record()['se']:.4f} ({result.seconds:.0f}s)")
        return result.record()

    def wrap(self, tracked: type) -> type:
        """The tracked tuner class whose oracle ranks by the rule and whose trials are noted as they end."""
        selector = self

        class Selecting(tracked):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, **kwargs)
                kt.order_best_trials(self.oracle, selector.order)

            def on_trial_begin(self, trial: Any) -> None:
                selector.began[trial.trial_id] = time.monotonic()
                super().on_trial_begin(trial)

            def on_trial_end(self, trial: Any) -> None:
                status = str(getattr(trial.status, "value", trial.status))
                selector.trial_ending(trial, status == "COMPLETED")
                super().on_trial_end(trial)

        Selecting.__name__ = Selecting.__qualname__ = tracked.__name__
        return Selecting


@dataclasses.dataclass
class SelectingPolicy(SearchPolicy):
    """A local (or resumed) search whose tuner is wrapped by ``selector``."""

    selector: Selector | None = None

    def tuner_class(self, tracked: type) -> type:
        return self.selector.wrap(tracked) if self.selector is not None else tracked


def _val_loss(trial: Any) -> float | None:
    """The validation loss KerasTuner recorded for ``trial`` (at its best epoch), if any."""
    metrics = getattr(trial, "metrics", None)
    if metrics is None or not metrics.exists("val_loss"):
        return None
    value = metrics.get_last_value("val_loss")
    return float(value) if value is not None and math.isfinite(value) else None
