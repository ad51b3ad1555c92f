"""Trial leaderboards: ranked rows (plain dicts, for the terminal) and pandas DataFrames (no TensorFlow).

One row per trial: ids, kind, state, the objective, best epoch, parameters,
times, resources, error, and every hyperparameter as an ``hp.<name>`` column.
Completed trials come first, best first by the selection rule (``tracking.selection``: the one the search's
oracle and its export follow; ``selection_score`` is the objective or, on small data, the cross-validated
mean, ``selection_se`` its standard error, ``tie`` marks the trials inside the best one's tie band);
failed and other unfinished trials follow in start order.

The rows need no pandas, whose import alone costs a quarter of a second: the
terminal's leaderboard prints them as they are; ``leaderboard()`` and the CSV
and JSON formats make a DataFrame of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from autosearch.errors import ViewError
from autosearch.tracking import (
    RunInfo,
    Tracker,
    TrialKind,
    TrialRecord,
    TrialState,
    get_tracker,
)
from autosearch.tracking.selection import SELECTION, Candidate, candidate_of, in_band, rank

if TYPE_CHECKING:
    import pandas as pd

Row = dict[str, Any]
HP_PREFIX = "hp."
BASE_COLUMNS = [
    "rank", "run_id", "trial_id", "kind", "state", "objective_name", "direction", "objective", "score_metric",
    "validation_score", "test_score", "selection_score", "selection_se", "cv_folds", "tie", "best_epoch",
    "trainable_params", "started_at", "ended_at", "duration_s", "peak_rss_mb", "cpu_percent", "seed",
    "reproduces", "error", "worker",
]
INT_COLUMNS = ("rank", "cv_folds", "best_epoch", "trainable_params", "seed")
TEXT_COLUMNS = ("run_id", "trial_id", "kind", "state", "objective_name", "direction", "score_metric", "reproduces",
                "error", "worker")
FLOAT_COLUMNS = ("objective", "validation_score", "test_score", "selection_score", "selection_se", "duration_s",
                 "peak_rss_mb", "cpu_percent")
TIME_COLUMNS = ("started_at", "ended_at")  # seconds since the epoch in rows; UTC timestamps in frames
# What the terminal and Markdown tables call the row columns; --sort takes a header or a column name, and a
# hyperparameter by its header (``units``) or full name (``table_block/units``, ``hp.table_block/units``).
HEADERS = {"rank": "rank", "run_id": "run", "trial_id": "trial", "selection_score": "cv_mean", "selection_se": "se",
           "validation_score": "validation", "test_score": "test", "best_epoch": "epoch",
           "trainable_params": "params", "duration_s": "duration", "peak_rss_mb": "memory", "cpu_percent": "cpu",
           "worker": "worker", "state": "status"}


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
        raise ViewError(f"no runs{f' for task {task!r}' if task else ''} in {tracker.uri}; run a search first "
                        "('autosearch search --pipeline text').")
    return runs if all_runs else runs[:1]


def _row(trial: TrialRecord, run: RunInfo) -> Row:
    extra = trial.extra or {}
    row = {
        "rank": None, "run_id": trial.run_id, "trial_id": trial.trial_id, "kind": trial.kind.value,
        "state": trial.state.value, "objective_name": run.objective, "direction": run.direction,
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


def ranked_rows(trials: Iterable[TrialRecord], runs: dict[str, RunInfo]) -> list[Row]:
    """Rows of ``trials`` in leaderboard order, ranked (see module doc); every row has every column."""
    trials = list(trials)
    candidates = {t.trial_id: c for t in trials if t.ranked
                  for c in [candidate_of(t, runs[t.run_id].objective, _validation_rows(runs[t.run_id]))] if c}
    ordered, marks = _rule_order(trials, candidates, runs)
    ordered += sorted((t for t in trials if t.trial_id not in candidates),
                      key=lambda t: t.leaderboard_key(runs[t.run_id].direction))
    rows, rank_no = [_row(t, runs[t.run_id]) for t in ordered], 0
    for t, row in zip(ordered, rows):
        c = candidates.get(t.trial_id)
        if c is not None:
            cv = ((t.extra or {}).get(SELECTION) or {}).get("cv") or {}
            row.update(selection_score=c.score, selection_se=c.se, cv_folds=cv.get("folds") if c.cross_validated
                       else None, tie=marks.get(t.trial_id, False))
        if c is not None and t.kind is not TrialKind.BASELINE:
            rank_no += 1
            row["rank"] = rank_no
    columns = [*BASE_COLUMNS, *sorted({c for r in rows for c in r if c.startswith(HP_PREFIX)})]
    return [{c: r.get(c) for c in columns} for r in rows]


def _validation_rows(run: RunInfo) -> int | None:
    return (run.data.get("rows") or {}).get("validation")


def _rule_order(trials: list[TrialRecord], candidates: dict[str, Candidate],
                runs: dict[str, RunInfo]) -> tuple[list[TrialRecord], dict[str, bool]]:
    """The ranked trials in the rule's order (runs of each direction together, in the order they first
    appear), and which of them lie in the tie band of their run's first (when two or more do)."""
    by_id = {t.trial_id: t for t in trials}
    directions = list(dict.fromkeys(runs[by_id[i].run_id].direction for i in candidates))
    ordered: list[TrialRecord] = []
    marks: dict[str, bool] = {}
    for direction in directions:
        picked = rank([c for i, c in candidates.items() if runs[by_id[i].run_id].direction == direction], direction)
        ordered += [by_id[c.trial_id] for c in picked]
        sign = 1.0 if direction == "max" else -1.0
        for group in dict.fromkeys(c.group for c in picked):
            mine = [c for c in picked if c.group == group]
            pool = [c for c in mine if c.cross_validated == mine[0].cross_validated]  # the first pick's pool
            top = max(pool, key=lambda c: sign * c.score)
            marks.update({c.trial_id: in_band(top, c, direction) for c in mine})
    for group in {c.group for c in candidates.values()}:
        tied = [i for i, c in candidates.items() if c.group == group and marks.get(i)]
        if len(tied) < 2:
            marks.update({i: False for i in tied})
    return ordered, marks


def _with_best_epochs(tracker: Tracker, trials: list[TrialRecord]) -> list[TrialRecord]:
    """``trials``, those of runs recorded before the selection rule (no ``extra["selection"]``) read again with
    their epochs: the rule breaks a tie by the best epoch's validation loss."""
    old_runs = {t.run_id for t in trials if t.ranked and t.kind is not TrialKind.BASELINE
                and SELECTION not in (t.extra or {})}
    if not old_runs:
        return trials
    full = {t.trial_id: t for run_id in old_runs for t in tracker.list_trials(run_id, with_epochs=True)}
    return [full.get(t.trial_id, t) for t in trials]


def hp_headers(columns: Iterable[str]) -> dict[str, str]:
    """``hp.<name>`` column -> its header: the name's last part (``units``) unless two share it."""
    names = [c[len(HP_PREFIX):] for c in columns if c.startswith(HP_PREFIX)]
    last = [n.split("/")[-1] for n in names]
    return {HP_PREFIX + n: (short if last.count(short) == 1 else n) for n, short in zip(names, last)}


def objective_header(rows: Sequence[Row]) -> str:
    """The objective column's header: the metric's name when every row has the same one."""
    names = {r["objective_name"] for r in rows if not missing(r["objective_name"])}
    return next(iter(names)) if len(names) == 1 else "objective"


def sort_column(key: str, rows: Sequence[Row]) -> str:
    """The row column that the ``--sort`` key (without its ``-``) names; ``ViewError`` listing the headers."""
    columns = list(rows[0]) if rows else BASE_COLUMNS
    names = {**{c: c for c in columns}, **{h: c for c, h in HEADERS.items()}, objective_header(rows): "objective",
             **{c[len(HP_PREFIX):]: c for c in columns if c.startswith(HP_PREFIX)},
             **{h: c for c, h in hp_headers(columns).items()}}
    wanted = key.strip().lower().replace(" ", "_")
    if wanted in names:
        return names[wanted]
    shown = [objective_header(rows) if c == "objective" else HEADERS.get(c, hp_headers(columns).get(c, c))
             for c in columns]
    raise ViewError(f"--sort '{key}' is not a column; use one of: {', '.join(dict.fromkeys(shown))} "
                    "(-name for descending).")


def frame_of(rows: Sequence[Row]) -> "pd.DataFrame":
    """Leaderboard rows as a DataFrame: nullable integers (a hyperparameter whose values are all integers
    too: ``dense_units`` 128, not 128.0), UTC timestamps to the microsecond."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS)
    frame = pd.DataFrame(list(rows), columns=list(rows[0]))
    for col in TIME_COLUMNS:
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True).dt.round("us")  # time.time() resolution
    integral = [c for c in frame.columns if c.startswith(HP_PREFIX) and _all_int(r.get(c) for r in rows)]
    for col in (*INT_COLUMNS, *integral):
        frame[col] = pd.array(frame[col], dtype="Int64")
    for col in FLOAT_COLUMNS:  # one dtype whatever the rows hold: all missing is NaN, not None
        frame[col] = frame[col].astype("float64")
    for col in TEXT_COLUMNS:  # one dtype whatever the rows hold (all missing, or some text)
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers before text, so that a column holding both (a categorical hyperparameter) still sorts."""
    return (0, float(value)) if isinstance(value, (int, float)) else (1, str(value))


def _all_int(values: Iterable[Any]) -> bool:
    """Every value given is an integer (not a bool), and there is one."""
    given = [v for v in values if not missing(v)]
    return bool(given) and all(isinstance(v, int) and not isinstance(v, bool) for v in given)


def trials_frame(trials: Iterable[TrialRecord], runs: dict[str, RunInfo]) -> "pd.DataFrame":
    """Ranked DataFrame of ``trials`` (see module doc)."""
    return frame_of(ranked_rows(trials, runs))


def missing(value: Any) -> bool:
    """None, NaN or pandas' NA: a cell with no value."""
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"


def leaderboard_rows(
    run: str | None = None,
    *,
    all_runs: bool = False,
    task: str | None = None,
    status: str | Sequence[str] | None = None,
    kind: str | Sequence[str] | None = None,
    sort: str | None = None,
    top: int | None = None,
    tracker: "Tracker | str | None" = None,
) -> list[Row]:
    """``leaderboard()``'s rows as dicts (the selection rule ranks them after the run's trials are read)."""
    tracker = get_tracker(tracker)
    runs = resolve_runs(tracker, run, all_runs, task)
    descending = bool(sort) and sort.startswith("-")
    trials = tracker.find_trials(  # the rule ranks after reading: no ``top`` in the query
        [r.run_id for r in runs], states=_parse_enum(TrialState, status, "--status"),
        kinds=_parse_enum(TrialKind, kind, "--kind"))
    rows = ranked_rows(_with_best_epochs(tracker, trials), {r.run_id: r for r in runs})
    column = sort_column(sort[1:] if descending else sort, rows) if sort else "rank"
    if column not in ("objective", "rank") or descending:  # the objective's own order is the rank
        known = sorted((r for r in rows if not missing(r[column])), key=lambda r: _sortable(r[column]),
                       reverse=descending)
        rows = known + [r for r in rows if missing(r[column])]  # missing values last, as pandas puts them
    return rows[:top] if top else rows


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
) -> "pd.DataFrame":
    """The trials of a run (default: the newest), or of all runs, as a ranked DataFrame.

    ``status``/``kind`` filter (e.g. ``status="completed"``, ``kind="search"``);
    ``sort`` names a column (``-column`` for descending; ``objective`` follows
    each run's direction); ``top`` keeps the first N rows.
    """
    return frame_of(leaderboard_rows(run, all_runs=all_runs, task=task, status=status, kind=kind, sort=sort,
                                     top=top, tracker=tracker))


def trials(run: str | None = None, *, tracker: "Tracker | str | None" = None) -> pd.DataFrame:
    """Per-epoch histories of a run's trials in long form: trial_id, kind, epoch, metric, value."""
    import pandas as pd

    tracker = get_tracker(tracker)
    (info,) = resolve_runs(tracker, run, False, None)
    rows = [
        (t.run_id, t.trial_id, t.kind.value, e.epoch + 1, name, value)
        for t in tracker.list_trials(info.run_id, with_epochs=True) for e in t.epochs for name, value in e.metrics.items()
    ]
    return pd.DataFrame(rows, columns=["run_id", "trial_id", "kind", "epoch", "metric", "value"])


def varying_hyperparameters(rows: "Sequence[Row] | pd.DataFrame") -> list[str]:
    """``hp.*`` columns whose values differ between the rows (KerasTuner's ``tuner/*`` bookkeeping excluded)."""
    if hasattr(rows, "to_dict"):  # a DataFrame
        rows = rows.to_dict(orient="records")
    columns = list(rows[0]) if rows else []
    cols = [c for c in columns if c.startswith(HP_PREFIX) and not c.startswith(HP_PREFIX + "tuner/")]
    return [c for c in cols if len({"-" if missing(r.get(c)) else str(r.get(c)) for r in rows}) > 1]
