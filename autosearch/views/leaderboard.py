"""Trial leaderboards as pandas DataFrames (no TensorFlow).

One row per trial: ids, kind, state, the objective, best epoch, parameters,
times, resources, error, and every hyperparameter as an ``hp.<name>`` column.
Completed trials come first, best first (in each run's objective direction);
failed and other unfinished trials follow in start order.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from autosearch.errors import ViewError
from autosearch.tracking import (
    RunInfo,
    Tracker,
    TrialKind,
    TrialRecord,
    TrialState,
    get_tracker,
)

HP_PREFIX = "hp."
BASE_COLUMNS = [
    "rank", "run_id", "trial_id", "kind", "state", "objective_name", "direction", "objective", "score_metric",
    "validation_score", "test_score", "best_epoch",
    "trainable_params", "started_at", "ended_at", "duration_s", "peak_rss_mb", "cpu_percent", "seed",
    "reproduces", "error", "worker",
]


def _parse_enum(enum: Any, value: str | Sequence[str] | None, flag: str) -> list | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    out = []
    for v in values:
        try:
            out.append(enum(v.upper() if enum is TrialState else v.lower()))
        except ValueError:
            allowed = ", ".join(e.value.lower() for e in enum)
            raise ViewError(f"{flag} '{v}' is unknown; use one of {allowed}.") from None
    return out


def resolve_runs(tracker: Tracker, run: str | None, all_runs: bool, task: str | None) -> list[RunInfo]:
    """The runs a view covers: one run, the newest, or all (optionally of one task)."""
    if run is not None:
        return [tracker.get_run(run)]
    runs = tracker.list_runs()
    if task is not None:
        runs = [r for r in runs if r.task == task or r.pipeline == task]
    if not runs:
        raise ViewError(f"no runs{f' for task {task!r}' if task else ''} in {tracker.uri}; run 'make search' first.")
    return runs if all_runs else runs[:1]


def _row(trial: TrialRecord, run: RunInfo) -> dict[str, Any]:
    extra = trial.extra or {}
    row = {
        "run_id": trial.run_id, "trial_id": trial.trial_id, "kind": trial.kind.value, "state": trial.state.value,
        "objective_name": run.objective, "direction": run.direction,
        "objective": trial.objective, **_scores(trial, run),
        "best_epoch": None if trial.best_epoch is None else trial.best_epoch + 1,
        "trainable_params": trial.trainable_params, "started_at": trial.started_at, "ended_at": trial.ended_at,
        "duration_s": trial.duration,
        "peak_rss_mb": extra["peak_rss_bytes"] / 2**20 if extra.get("peak_rss_bytes") else None,
        "cpu_percent": extra.get("cpu_percent_mean"), "seed": trial.seed, "reproduces": trial.reproduces,
        "error": trial.error, "worker": extra.get("worker"),  # the distributed search's worker that ran it
    }
    for name, value in trial.hyperparameters.items():
        row[HP_PREFIX + name] = value
    return row


def _scores(trial: TrialRecord, run: RunInfo) -> dict[str, Any]:
    """Validation and test scores where they are known: every baseline's, and the best model's (scored on
    test once, after the search); a search trial is otherwise only scored by its objective."""
    if trial.kind is TrialKind.BASELINE:
        extra = trial.extra or {}
        return {"score_metric": extra.get("metric"), "validation_score": extra.get("validation"),
                "test_score": extra.get("test")}
    if trial.trial_id == run.best_trial_id and run.scores:
        return {"score_metric": run.scores.get("metric"), "validation_score": run.scores.get("validation"),
                "test_score": run.scores.get("test")}
    return {"score_metric": None, "validation_score": None, "test_score": None}


def trials_frame(trials: Iterable[TrialRecord], runs: dict[str, RunInfo]) -> pd.DataFrame:
    """Ranked DataFrame of ``trials`` (see module doc)."""
    rows = [_row(t, runs[t.run_id]) for t in trials]
    frame = pd.DataFrame(rows, columns=None if rows else BASE_COLUMNS[1:])
    if frame.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    done = (frame["state"] == TrialState.COMPLETED.value) & frame["objective"].notna()
    oriented = np.where(frame["direction"] == "min", frame["objective"], -frame["objective"].astype(float))
    frame["_done"], frame["_key"] = ~done, np.where(done, oriented, np.inf)
    frame = frame.sort_values(["_done", "_key", "started_at", "trial_id"], kind="stable").drop(columns=["_done", "_key"])
    ranked = (done.loc[frame.index] & (frame["kind"] != TrialKind.BASELINE.value)).to_numpy()
    frame.insert(0, "rank", pd.Series(np.cumsum(ranked), index=frame.index, dtype="Int64").where(ranked))
    for col in ("started_at", "ended_at"):
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True).dt.round("us")  # time.time() resolution
    for col in ("best_epoch", "trainable_params", "seed"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    hp_cols = sorted(c for c in frame.columns if c.startswith(HP_PREFIX))
    return frame[[*BASE_COLUMNS, *hp_cols]].reset_index(drop=True)


def leaderboard(
    run: str | None = None,
    *,
    all_runs: bool = False,
    task: str | None = None,
    status: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    sort: str | None = None,
    top: int | None = None,
    tracker: "Tracker | str | None" = None,
) -> pd.DataFrame:
    """The trials of a run (default: the newest), or of all runs, as a ranked DataFrame.

    ``status``/``kind`` filter (e.g. ``status="completed"``, ``kind="search"``);
    ``sort`` names a column (``-column`` for descending; ``objective`` follows
    each run's direction); ``top`` keeps the first N rows.
    """
    tracker = get_tracker(tracker)
    runs = resolve_runs(tracker, run, all_runs, task)
    trials = tracker.find_trials(
        [r.run_id for r in runs], states=_parse_enum(TrialState, status, "--status"),
        kinds=_parse_enum(TrialKind, kind, "--kind"),
    )
    frame = trials_frame(trials, {r.run_id: r for r in runs})
    if sort and sort not in ("objective", "rank"):
        column, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
        if column not in frame.columns and HP_PREFIX + column in frame.columns:
            column = HP_PREFIX + column
        if column not in frame.columns:
            raise ViewError(f"--sort '{sort}' is not a column; use one of: {', '.join(frame.columns)}.")
        frame = frame.sort_values(column, ascending=not descending, na_position="last", kind="stable")
        frame = frame.reset_index(drop=True)
    return frame.head(top) if top else frame


def trials(run: str | None = None, *, tracker: "Tracker | str | None" = None) -> pd.DataFrame:
    """Per-epoch histories of a run's trials in long form: trial_id, kind, epoch, metric, value."""
    tracker = get_tracker(tracker)
    (info,) = resolve_runs(tracker, run, False, None)
    rows = [
        (t.run_id, t.trial_id, t.kind.value, e.epoch + 1, name, value)
        for t in tracker.list_trials(info.run_id, with_epochs=True) for e in t.epochs for name, value in e.metrics.items()
    ]
    return pd.DataFrame(rows, columns=["run_id", "trial_id", "kind", "epoch", "metric", "value"])


def varying_hyperparameters(frame: pd.DataFrame) -> list[str]:
    """``hp.*`` columns whose values differ between the rows (KerasTuner's ``tuner/*`` bookkeeping excluded)."""
    cols = [c for c in frame.columns if c.startswith(HP_PREFIX) and not c.startswith(HP_PREFIX + "tuner/")]
    return [c for c in cols if frame[c].astype(str).nunique(dropna=False) > 1]
