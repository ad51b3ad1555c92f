"""The one rule that picks the best trial, used by the search's oracle, the exported trial and the leaderboard.

A trial's *score* is its validation objective (holdout) or, when the run cross-validated it on small data,
the mean of its fold scores (``tuning.crossval``). The best score's standard error sets a tie band: the
binomial ``sqrt(p(1-p)/n)`` of an accuracy objective on ``n`` validation rows, the fold scores' standard
error under cross-validation, 0 when unknown. Every trial inside the band ties with the best, and a tie goes
to the lower validation loss (at the best epoch; the folds' mean under cross-validation), then to fewer
trainable parameters, never to the order the trials ran in (identical in all three: the smaller id, so every
reader picks the same one). Within a run, cross-validated trials are compared with each other first; a trial
that was not cross-validated (out of reach of the best on holdout, or past the time budget) ranks after them.
A leaderboard ranks by applying the rule again to the trials not yet ranked.

Only records are read here (a trial's objective, trainable parameters and its ``extra["selection"]``, which
``tuning.selection`` writes), so every tracker backend and every stored run can be ranked; no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

SELECTION = "selection"  # the key of a trial's ``extra`` that holds what the rule reads
_EPSILON = 1e-12  # float noise: a score equal to the band's edge is inside it


@dataclass(frozen=True)
class Candidate:
    """What the rule knows of one trial."""

    trial_id: str
    score: float  # the objective on holdout, or the cross-validated mean
    se: float = 0.0  # the score's standard error (0: unknown)
    val_loss: float | None = None  # at the best epoch (holdout) or the folds' mean (cross-validated)
    params: int | None = None  # trainable parameters
    cross_validated: bool = False
    group: str = ""  # the run: cross-validated trials come first among their run's


def binomial_se(p: float, n: int | None) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` rows; 0 when ``n`` is unknown."""
    if not n or not 0.0 <= p <= 1.0:
        return 0.0
    return math.sqrt(p * (1.0 - p) / n)


def fold_se(scores: Sequence[float]) -> float:
    """The standard error of the mean of ``scores`` (sample standard deviation / sqrt(k))."""
    k = len(scores)
    if k < 2:
        return 0.0
    mean = sum(scores) / k
    return math.sqrt(sum((s - mean) ** 2 for s in scores) / (k - 1) / k)


def holdout_se(objective_name: str | None, score: float, validation_rows: int | None) -> float:
    """An accuracy objective's binomial standard error on the validation rows; 0 for other objectives."""
    return binomial_se(score, validation_rows) if (objective_name or "").endswith("accuracy") else 0.0


def candidate(trial_id: str, objective: float | None, selection: Mapping[str, Any] | None, params: int | None,
              objective_name: str | None, validation_rows: int | None, group: str = "",
              val_loss: float | None = None) -> Candidate | None:
    """The candidate of a completed trial from what its record holds; None without a finite score.
    ``selection``: the trial's ``extra["selection"]`` (may be empty: a run recorded before the rule);
    ``val_loss``: the best epoch's, when ``selection`` does not hold it."""
    selection = selection or {}
    cv = selection.get("cv")
    if cv and _finite(cv.get("mean")):
        return Candidate(trial_id, float(cv["mean"]), float(cv.get("se") or 0.0), _number(cv.get("val_loss")),
                         params, True, group)
    if not _finite(objective):
        return None
    rows = selection.get("validation_rows", validation_rows)
    loss = _number(selection.get("val_loss"))
    return Candidate(trial_id, float(objective), holdout_se(objective_name, float(objective), rows),
                     loss if loss is not None else _number(val_loss), params, False, group)


def choose(candidates: Iterable[Candidate], direction: str) -> Candidate | None:
    """The rule's pick among ``candidates`` (see the module doc); None when there is none."""
    pool = list(candidates)
    cv_groups = {c.group for c in pool if c.cross_validated}
    pool = [c for c in pool if c.cross_validated or c.group not in cv_groups]
    if not pool:
        return None
    sign = 1.0 if direction == "max" else -1.0
    top = max(pool, key=lambda c: sign * c.score)
    band = [c for c in pool if sign * (top.score - c.score) <= top.se + _EPSILON]
    return min(band, key=tie_key)


def tie_key(c: Candidate) -> tuple[float, float, str]:
    """How a tie is broken: lower validation loss, then fewer trainable parameters, then the id."""
    loss = c.val_loss if c.val_loss is not None and math.isfinite(c.val_loss) else math.inf
    return loss, float(c.params) if c.params is not None else math.inf, c.trial_id


def rank(candidates: Iterable[Candidate], direction: str) -> list[Candidate]:
    """``candidates`` best first: the rule's pick, then its pick among the rest, and so on."""
    rest, out = list(candidates), []
    while rest:
        pick = choose(rest, direction)
        if pick is None:
            break
        out.append(pick)
        rest.remove(pick)
    return out


def in_band(best: Candidate, other: Candidate, direction: str) -> bool:
    """``other`` ties with ``best``: its score lies within ``best``'s standard error of it."""
    sign = 1.0 if direction == "max" else -1.0
    return other.cross_validated == best.cross_validated and \
        sign * (best.score - other.score) <= best.se + _EPSILON


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def candidate_of(record: Any, objective_name: str | None, validation_rows: int | None) -> Candidate | None:
    """The candidate of a ``TrialRecord`` (completed, or None): its ``extra["selection"]``, else its
    objective and its best epoch's ``val_loss`` (read with its epochs; a run recorded before the rule)."""
    if record.state.value != "COMPLETED":
        return None
    extra = record.extra or {}
    return candidate(record.trial_id, record.objective, extra.get(SELECTION), record.trainable_params,
                     objective_name, validation_rows, record.run_id, record.best_epoch_metrics.get("val_loss"))
