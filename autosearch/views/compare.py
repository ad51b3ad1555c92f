"""Side-by-side comparison of two trials or two runs."""

from __future__ import annotations

from typing import Any, Mapping

from autosearch.errors import ViewError
from autosearch.fileio import flatten
from autosearch.tracking import Tracker
from autosearch.views import formats as fmt
from autosearch.views.tables import Column, Table


def compare(tracker: Tracker, a: str, b: str) -> dict[str, Any]:
    """Differences between two trials (ids with '/') or two runs.

    Returns ``{"kind", "a", "b", "differences": {name: (a, b)}, "metrics": {name: (a, b)},
    "same_data": bool, "fingerprints", "objectives": (a, b), "score_metrics": (a, b)}``; hyperparameters or
    config values that are equal are left out.
    """
    if ("/" in a) != ("/" in b):
        raise ViewError(f"compare takes two trial ids or two run ids, got '{a}' and '{b}'.")
    if "/" in a:
        ta, tb = tracker.get_trial(a), tracker.get_trial(b)
        ra, rb = tracker.get_run(ta.run_id), tracker.get_run(tb.run_id)
        hp = sorted(set(ta.hyperparameters) | set(tb.hyperparameters))
        diffs = {k: (ta.hyperparameters.get(k), tb.hyperparameters.get(k)) for k in hp
                 if ta.hyperparameters.get(k) != tb.hyperparameters.get(k)}
        ea, eb = ta.best_epoch_metrics, tb.best_epoch_metrics
        metrics = {
            "state": (ta.state.value, tb.state.value), "objective": (ta.objective, tb.objective),
            "best epoch": (_plus1(ta.best_epoch), _plus1(tb.best_epoch)),
            "params": (ta.trainable_params, tb.trainable_params),
            "duration": (ta.duration, tb.duration), "seed": (ta.seed, tb.seed),
            **{f"best epoch {m}": (ea.get(m), eb.get(m)) for m in sorted(set(ea) | set(eb))},
        }
        kind = "trials"
    else:
        ra, rb = tracker.get_run(a), tracker.get_run(b)
        ca, cb = flatten(ra.config), flatten(rb.config)
        diffs = {k: (ca.get(k), cb.get(k)) for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
        sa, sb = ra.scores, rb.scores
        metrics = {
            "status": (ra.status.value, rb.status.value),
            "best objective": (ra.best_objective, rb.best_objective),
            "validation score": (sa.get("validation"), sb.get("validation")),
            "test score": (sa.get("test"), sb.get("test")),
            "duration": (ra.duration, rb.duration),
            "best trial": (ra.best_trial_id, rb.best_trial_id),
        }
        kind = "runs"
    return {"kind": kind, "a": a, "b": b, "differences": diffs, "metrics": metrics,
            "same_data": ra.fingerprint == rb.fingerprint, "fingerprints": (ra.fingerprint, rb.fingerprint),
            "objectives": (ra.objective, rb.objective), "score_metrics": (ra.scores.get("metric"),
                                                                          rb.scores.get("metric"))}


def _plus1(epoch: int | None) -> int | None:
    return None if epoch is None else epoch + 1


def _metric_cell(label: str, value: Any, metric: str | None, score_metric: str | None) -> str:
    """A metric of ``compare`` as the tables write it: scores in their metric's style, one duration style."""
    if label in ("objective", "best objective"):
        return fmt.score(value, metric)
    if label in ("validation score", "test score"):
        return fmt.score(value, score_metric)
    if label.startswith("best epoch "):
        return fmt.score(value, label[len("best epoch "):])
    if label == "duration":
        return fmt.duration(value)
    return fmt.value(value)


def _config_cell(key: str, value: Any) -> str:
    """A configuration or hyperparameter value; a time budget in the pipeline's notation (``12m``)."""
    if key.endswith("time_budget") and isinstance(value, (int, float)):
        return fmt.budget(value)
    return fmt.hyperparameter(value) if not isinstance(value, (list, dict)) else str(value)


def render_compare(result: Mapping[str, Any], width: int | None = None) -> str:
    """The comparison as a table that fits ``width`` cells (long values clipped), then whether the data match."""
    label = "hyperparameters" if result["kind"] == "trials" else "configuration"
    rows = [[f"[{label} that differ]" if result["differences"] else f"[{label}: identical]", "", ""]]
    rows += [[k, _config_cell(k, x), _config_cell(k, y)] for k, (x, y) in result["differences"].items()]
    rows.append(["[metrics]", "", ""])
    metrics = zip(result.get("objectives", (None, None)), result.get("score_metrics", (None, None)))
    (ma, sa), (mb, sb) = metrics
    rows += [[k, _metric_cell(k, x, ma, sa), _metric_cell(k, y, mb, sb)] for k, (x, y) in result["metrics"].items()]
    table = Table([Column("name", "", fold=True, min_width=14), Column("a", result["a"], fold=True, min_width=12),
                   Column("b", result["b"], fold=True, min_width=12)], rows)
    fa, fb = (str(f)[:12] if f else "-" for f in result["fingerprints"])
    return "\n".join([table.render(width),
                      f"data fingerprints {'match' if result['same_data'] else 'DIFFER'}: {fa}… / {fb}…"])
