"""The run list: one row per run, the filters that find runs, and how a run's labels are written on the
command line (no TensorFlow; pandas only for ``runs_frame``).

The filters are the run list's and the report index's: a pipeline (or task), a data set, a status, tags
(``key=value``: that value; ``key``: any value; all must match) and a verdict (did the search or a baseline
win on test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autosearch.errors import ViewError
from autosearch.tracking import RunInfo, RunStatus, Tracker, TrialKind
from autosearch.tracking.records import check_name, check_note, check_tags

if TYPE_CHECKING:
    import pandas as pd

NO_VERDICT = "-"
VERDICTS = {"search": "search won", "baseline": "baseline won"}  # --verdict value -> what the list shows


def disk_use(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_verdict(run: RunInfo) -> str:
    """``search won``, ``baseline won`` (a baseline beat the best model on test) or ``-`` (no test score yet)."""
    if run.status is not RunStatus.COMPLETED or run.scores.get("test") is None:
        return NO_VERDICT
    return VERDICTS["baseline"] if run.outcome.baselines_won else VERDICTS["search"]


def tag_text(tags: Mapping[str, str]) -> str:
    """Tags as people write them, sorted: ``stage=final, team=nlp``; a tag without a value is its key alone."""
    return ", ".join(f"{k}={v}" if v != "" else k for k, v in sorted(tags.items()))


def parse_tag_args(items: Sequence[str], flag: str = "--tag") -> dict[str, str]:
    """``["team=nlp", "favourite"]`` -> ``{"team": "nlp", "favourite": ""}``, checked (``records.check_tags``)."""
    tags: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise ViewError(f"{flag} '{item}' names no key; write {flag} KEY=VALUE or {flag} KEY.")
        tags[key] = value
    return check_tags(tags)


def parse_labels(name: str | None, note: str | None, tags: Sequence[str] = (),
                 workers: int | None = None) -> dict[str, Any]:
    """The ``name``, ``note`` and ``tags`` of a new run (``search --name --note --tag``), checked before any work."""
    labels = {"name": check_name(name) or None, "note": check_note(note) or None, "tags": parse_tag_args(tags)}
    labels = {k: v for k, v in labels.items() if v}
    if labels and workers:
        raise ViewError("--name, --note and --tag do not combine with --workers yet; label the run once it has "
                        "started with 'autosearch tag RUN_ID KEY=VALUE --name NAME --note NOTE'.")
    return labels


@dataclass(frozen=True)
class RunFilter:
    """Which runs a list keeps: every given condition holds."""

    pipeline: str | None = None  # the run's pipeline or task
    dataset: str | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)  # key -> value, or None: any value
    status: RunStatus | None = None
    verdict: str | None = None  # a value of VERDICTS

    @classmethod
    def parse(cls, pipeline: str | None = None, dataset: str | None = None, tags: Sequence[str] = (),
              status: str | None = None, verdict: str | None = None) -> "RunFilter":
        """From the command line; a bad status, verdict or tag raises ``ViewError`` naming the choices."""
        wanted: dict[str, str | None] = {}
        for tag in tags:
            key, sep, value = tag.partition("=")
            if not key.strip():
                raise ViewError(f"--tag '{tag}' names no key; use --tag KEY=VALUE or --tag KEY.")
            wanted[key.strip()] = value.strip() if sep else None
        if status is not None and status.upper() not in RunStatus.__members__:
            raise ViewError(f"--status '{status}' is unknown; use one of "
                            f"{', '.join(s.value.lower() for s in RunStatus)}.")
        if verdict is not None and verdict.lower() not in VERDICTS:
            raise ViewError(f"--verdict '{verdict}' is unknown; use {' or '.join(VERDICTS)} (who won on test).")
        return cls(pipeline, dataset, wanted, None if status is None else RunStatus[status.upper()],
                   None if verdict is None else VERDICTS[verdict.lower()])

    def keeps(self, run: RunInfo) -> bool:
        return ((self.pipeline is None or self.pipeline in (run.pipeline, run.task))
                and (self.dataset is None or run.dataset == self.dataset)
                and (self.status is None or run.status is self.status)
                and (self.verdict is None or run_verdict(run) == self.verdict)
                and all(k in run.tags and (v is None or run.tags[k] == v) for k, v in self.tags.items()))


def runs_rows(tracker: Tracker, wanted: RunFilter | None = None) -> list[dict[str, Any]]:
    """One row per run that ``wanted`` keeps, newest first: id, name, pipeline, data set, status, verdict, best
    objective, test score, search trials, start (seconds since the epoch), duration, disk use, tags, note."""
    runs = [r for r in tracker.list_runs() if wanted is None or wanted.keeps(r)]
    counts = tracker.trial_counts([r.run_id for r in runs], kinds=[TrialKind.SEARCH]) if runs else {}
    return [{
        "run_id": run.run_id, "name": run.name, "pipeline": run.pipeline, "task": run.task, "dataset": run.dataset,
        "status": run.status.value, "verdict": run_verdict(run), "objective_name": run.objective,
        "best_objective": run.best_objective, "test_metric": run.scores.get("metric"),
        "test_score": run.scores.get("test"), "trials": counts.get(run.run_id, 0),
        "started_at": run.started_at, "duration_s": run.duration, "disk_mb": disk_use(run.run_dir) / 2**20,
        "tags": dict(run.tags), "note": run.note,
    } for run in runs]


def runs_frame(tracker: Tracker, wanted: RunFilter | None = None, tags_as_text: bool = True) -> "pd.DataFrame":
    """``runs_rows`` as a DataFrame: the start as a UTC timestamp, the tags as ``tag_text`` (or as dicts)."""
    import pandas as pd

    rows = runs_rows(tracker, wanted)
    frame = pd.DataFrame([{**r, "tags": tag_text(r["tags"]) if tags_as_text else r["tags"]} for r in rows])
    if not frame.empty:
        frame["started_at"] = pd.to_datetime(frame["started_at"], unit="s", utc=True)
    return frame
