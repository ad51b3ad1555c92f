"""Side-by-side comparison of two trials or two runs."""

from __future__ import annotations

from typing import Any, Mapping

from autosearch.errors import ViewError
from autosearch.fileio import flatten
from autosearch.tracking import Tracker


def compare(tracker: Tracker, a: str, b: str) -> dict[str, Any]:
    """Differences between two trials (ids with '/') or two runs.

    Returns ``{"kind", "a", "b", "differences": {name: (a, b)}, "metrics": {name: (a, b)},
    "same_data": bool}``; hyperparameters or config values that are equal are left out.
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
            "trainable params": (ta.trainable_params, tb.trainable_params),
            "duration s": (ta.duration, tb.duration), "seed": (ta.seed, tb.seed),
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
            "duration s": (ra.duration, rb.duration),
            "best trial": (ra.best_trial_id, rb.best_trial_id),
        }
        kind = "runs"
    return {"kind": kind, "a": a, "b": b, "differences": diffs, "metrics": metrics,
            "same_data": ra.fingerprint == rb.fingerprint, "fingerprints": (ra.fingerprint, rb.fingerprint)}


def _plus1(epoch: int | None) -> int | None:
    return None if epoch is None else epoch + 1


def render_compare(result: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))

    rows = [("", result["a"], result["b"])]
    label = "hyperparameters" if result["kind"] == "trials" else "configuration"
    lines = []
    if result["differences"]:
        rows.append((f"[{label} that differ]", "", ""))
        rows += [(k, fmt(x), fmt(y)) for k, (x, y) in result["differences"].items()]
    else:
        rows.append((f"[{label}: identical]", "", ""))
    rows.append(("[metrics]", "", ""))
    rows += [(k, fmt(x), fmt(y)) for k, (x, y) in result["metrics"].items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    fa, fb = (str(f)[:12] if f else "-" for f in result["fingerprints"])
    lines.append(f"data fingerprints {'match' if result['same_data'] else 'DIFFER'}: {fa}… / {fb}…")
    return "\n".join(lines)


