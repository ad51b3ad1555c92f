"""Plain-text renderings of trials for the terminal."""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from autosearch.tracking.records import TrialRecord, TrialState


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _secs(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def rank_trials(trials: Iterable[TrialRecord], direction: str) -> list[TrialRecord]:
    """Completed trials best first, then the others in start order."""
    trials = list(trials)
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.objective is not None]
    done.sort(key=lambda t: -t.objective if direction == "max" else t.objective)
    rest = [t for t in trials if t not in done]
    return done + rest


def varying_hyperparameters(trials: Sequence[TrialRecord]) -> list[str]:
    """Names of the hyperparameters whose values differ between ``trials``."""
    names = sorted({k for t in trials for k in t.hyperparameters if not k.startswith("tuner/")})
    return [n for n in names if len({repr(t.hyperparameters.get(n)) for t in trials}) > 1]


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def trials_table(trials: Sequence[TrialRecord], objective: str, direction: str, top: int | None = None) -> str:
    ranked = rank_trials(trials, direction)
    shown = ranked[:top] if top else ranked
    hps = varying_hyperparameters(shown)
    short = [h.split("/")[-1] for h in hps]
    header = ["rank", "trial", objective, "best epoch", "params", "time", *short, "status"]
    rows = []
    for i, t in enumerate(shown, 1):
        ok = t.state is TrialState.COMPLETED
        status = t.state.value if ok or not t.error else f"{t.state.value}: {t.error[:60]}"
        rows.append([
            str(i) if ok else "-", t.trial_id, _num(t.objective),
            "-" if t.best_epoch is None else str(t.best_epoch + 1), _count(t.trainable_params),
            _secs(t.duration), *[_fmt_hp(t.hyperparameters.get(h)) for h in hps], status,
        ])
    return table(rows, header)


def _fmt_hp(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)
