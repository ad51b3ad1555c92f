"""Greedy ensemble selection with replacement over the trials' held-out outputs, and the decision to export it.

Caruana et al. (2004), as auto-sklearn and AutoGluon use it: start from nothing, add (again and again,
with replacement) the candidate whose addition makes the averaged outputs score best, keep the best
prefix; a trial added three times weighs three times. Numpy only: the outputs are class probabilities in
the data set's class order (``export.outputs.model_outputs`` maps each trial's own order) or regression
values, computed once per trial (``tuning.heldout``).

The ensemble is exported only when the *procedure* beats "pick the best single trial" on rows neither
choice saw: the held-out rows are cut into ``FOLDS`` folds; on each, both procedures choose on the other
folds and are scored on it (cross-fitting). It must gain at least ``MARGIN`` (``RELATIVE_MARGIN`` of the
single trial's error for error metrics) and more than one paired standard error of that gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

MAX_MEMBERS = 5  # distinct trials in an ensemble
MAX_LATENCY_MS = 10.0  # the members' summed prediction time per row (a warm batched predict of the held-out rows)
STEPS = 25  # greedy additions (with replacement): weights are multiples of 1/25 at the finest
FOLDS = 5  # cross-fitting folds over the held-out rows
MARGIN = 0.005  # accuracy: half a point over the best single trial, cross-fitted
RELATIVE_MARGIN = 0.01  # error metrics (MAE, MSE, log loss): 1% of the best single trial's error, cross-fitted
_EPS = 1e-7


def metric_of(objective: str, problem: str) -> str:
    """The per-row metric the ensemble is chosen on: the search's objective without its ``val_``."""
    if objective == "val_accuracy":
        return "accuracy"
    if objective == "val_mean_absolute_error":
        return "mae"
    return "log_loss" if problem == "classification" else "mse"  # val_loss: AutoKeras' heads' losses


def row_scores(outputs: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """Each row's score, higher is better (the metric's mean, negated for errors)."""
    outputs = np.asarray(outputs, dtype="float64")
    if metric == "accuracy":
        return (outputs.argmax(axis=1) == y).astype("float64")
    if metric == "log_loss":
        return np.log(np.clip(outputs[np.arange(len(y)), y], _EPS, 1.0))
    if metric == "mae":
        return -np.abs(outputs - y)
    if metric == "mse":
        return -np.square(outputs - y)
    raise ValueError(f"unknown ensemble metric {metric!r}; use accuracy, log_loss, mae or mse.")


def _score(outputs: np.ndarray, y: np.ndarray, metric: str) -> tuple[float, float]:
    """(mean row score, tie-breaker): accuracy ties are broken by the log-likelihood. Rounded: a float's
    last bits (the mean of a trial with itself) are no gain."""
    main = round(float(np.mean(row_scores(outputs, y, metric))), 10)
    return main, round(float(np.mean(row_scores(outputs, y, "log_loss"))), 10) if metric == "accuracy" else main


def weighted_mean(outputs: Sequence[np.ndarray], counts: Sequence[int]) -> np.ndarray:
    total = float(sum(counts))
    return sum((c / total) * np.asarray(o, dtype="float64") for o, c in zip(outputs, counts) if c)


def greedy_select(outputs: Sequence[np.ndarray], y: np.ndarray, metric: str, *,
                  latencies: Sequence[float] | None = None, max_members: int = MAX_MEMBERS,
                  max_latency_ms: float = MAX_LATENCY_MS, steps: int = STEPS) -> list[int]:
    """How many times each candidate is picked (its weight is that over the sum). Ties go to the earlier
    candidate (list the best single trial first) and to the shorter prefix; a candidate that would make the
    ensemble exceed ``max_members`` distinct trials or ``max_latency_ms`` per row is not added (the first
    pick always is: a single trial is no ensemble to cap)."""
    n = len(outputs)
    latencies = list(latencies) if latencies is not None else [0.0] * n
    counts, total = [0] * n, None
    best: tuple[tuple[float, float], list[int]] | None = None
    for _ in range(steps):
        used = [i for i in range(n) if counts[i]]
        step: tuple[tuple[float, float], int] | None = None
        for i in range(n):
            if not counts[i] and used and (len(used) >= max_members
                                           or sum(latencies[j] for j in used) + latencies[i] > max_latency_ms):
                continue
            k = sum(counts)
            trial = outputs[i] if total is None else (total * k + outputs[i]) / (k + 1)
            score = _score(trial, y, metric)
            if step is None or score > step[0]:
                step = (score, i)
        if step is None:
            break
        k = sum(counts)
        total = np.asarray(outputs[step[1]], "float64") if total is None else (total * k + outputs[step[1]]) / (k + 1)
        counts[step[1]] += 1
        if best is None or step[0] > best[0]:
            best = (step[0], list(counts))
    return best[1] if best else counts


def best_single(outputs: Sequence[np.ndarray], y: np.ndarray, metric: str) -> int:
    """The candidate that scores best on its own; ties go to the earlier one."""
    scores = [_score(o, y, metric) for o in outputs]
    return max(range(len(outputs)), key=lambda i: (scores[i], -i))


@dataclass(frozen=True)
class Decision:
    """The cross-fitted comparison of ensemble selection with picking the best single trial."""

    metric: str
    ensemble: float  # the ensemble procedure's score on rows it did not choose on (higher is better)
    single: float  # picking the best single trial, scored the same way
    gain: float  # ensemble - single
    standard_error: float  # of the paired per-row gain
    margin: float  # the gain required
    folds: int
    export: bool = field(default=False)

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return {k: getattr(self, k) for k in ("metric", "ensemble", "single", "gain", "standard_error", "margin",
                                              "folds", "export")}


def fold_of(n: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each row's fold, balanced and shuffled with ``seed``."""
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def cross_fitted(outputs: Sequence[np.ndarray], y: np.ndarray, metric: str, *, folds: int = FOLDS, seed: int = 0,
                 latencies: Sequence[float] | None = None, max_members: int = MAX_MEMBERS,
                 max_latency_ms: float = MAX_LATENCY_MS) -> Decision:
    """Both procedures choose on all folds but one and are scored on that one; the per-row scores of all
    folds are pooled. ``export`` when the ensemble gains at least the margin and more than one standard error."""
    y = np.asarray(y)
    folds = max(2, min(folds, len(y) // 2))
    fold = fold_of(len(y), folds, seed)
    ens_rows, single_rows = np.empty(len(y)), np.empty(len(y))
    for f in range(folds):
        fit, held = fold != f, fold == f
        part = [np.asarray(o)[fit] for o in outputs]
        counts = greedy_select(part, y[fit], metric, latencies=latencies, max_members=max_members,
                               max_latency_ms=max_latency_ms)
        ens_rows[held] = row_scores(weighted_mean([np.asarray(o)[held] for o in outputs], counts), y[held], metric)
        single_rows[held] = row_scores(np.asarray(outputs[best_single(part, y[fit], metric)])[held], y[held], metric)
    diff = ens_rows - single_rows
    gain = float(np.mean(diff))
    se = float(np.std(diff, ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.inf
    single = float(np.mean(single_rows))
    margin = MARGIN if metric == "accuracy" else RELATIVE_MARGIN * abs(single)
    return Decision(metric, float(np.mean(ens_rows)), single, gain, se, margin, folds,
                    export=bool(gain >= margin and gain > se))
