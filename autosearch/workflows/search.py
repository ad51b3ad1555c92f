"""A whole search: start the run, run the trials, score the best model on test, keep its
predictions, write its bundle, attach the report, end the run.

Everything that can reject user input runs before the tracker is touched, so
bad input leaves no trace.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from autosearch.config import PipelineConfig
from autosearch.data import SplitData, prepare_data
from autosearch.data.split import check_same_data
from autosearch.environment import environment
from autosearch.spaces.graph import applied_fixes
from autosearch.spaces.registry import AUTO, get_space
from autosearch.errors import Marked, TrackerError
from autosearch.tracking import RunInfo, RunStatus, Tracker, TrialKind, TrialState, autosearch_home
from autosearch.tracking.runsummary import RunSummary
from autosearch.tuning.progress import Progress, SilentProgress
from autosearch.workflows.heartbeat import Heartbeat


@dataclass(frozen=True)
class SearchResult:
    run_id: str
    run_dir: Path
    tracker_uri: str
    best_trial_id: str | None
    objective: str
    direction: str
    best_objective: float | None
    scores: Mapping[str, Any]  # metric, validation, test of the best model
    baseline: Mapping[str, Any]
    tensorboard_dir: Path
    duration: float
    n_trials: int
    bundle: Path | None = None
    baselines_won: tuple[Mapping[str, Any], ...] = ()  # baselines that beat the best model on test


def run_search(
    cfg: PipelineConfig,
    tracker: Tracker,
    home: Path,
    progress: Progress | None = None,
    split: SplitData | None = None,
    export: bool = True,
    chief: Any = None,
    labels: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Search ``cfg``'s space on its data, recording every trial in ``tracker``; see the module doc. With a
    ``chief`` (``workflows.distributed.Chief``) the trials run on workers: it announces the run and serves them.
    ``labels`` (``name``, ``note``, ``tags``) are recorded with the run (``RunInfo``)."""
    from autosearch.tuning.kt_adapter import check_versions
    from autosearch.tuning.runner import new_run_id

    check_versions()  # an unsupported KerasTuner/AutoKeras/Keras is refused before a run is recorded
    split = split or prepare_data(cfg)  # rejects bad input before anything is written
    cfg, fitted = fit_settings(cfg, split)
    run_id = new_run_id()
    run_dir = (Path(home) / "runs" / run_id).resolve()
    run_dir.mkdir(parents=True)
    try:
        tracker.start_run(RunInfo(
            run_id=run_id, pipeline=cfg.name, task=cfg.task, dataset=split.dataset.name, seed=cfg.search.seed,
            started_at=time.time(), config={**cfg.to_dict(), "source": cfg.source}, data=split.summary(),
            environment=environment(), summary=RunSummary(
                run_dir=stored_path(run_dir), fitted=fitted,
                fixes=tuple(applied_fixes(cfg.graph, cfg.space)) if cfg.graph else (),
                distributed=chief.record if chief else {}).to_dict(), **(labels or {}),
        ))
    except BaseException:  # not recorded (a held lock, Ctrl-C while waiting for it): no folder of no run is left
        with contextlib.suppress(OSError):  # only while empty, as made just above
            run_dir.rmdir()
        raise
    if chief:
        chief.announce(run_id)
    return _search(cfg, tracker, run_id, run_dir, split, progress or SilentProgress(), export, None, chief)


def resume_search(tracker: Tracker, run_id: str, progress: Progress | None = None,
                  export: bool = True) -> SearchResult:
    """Continue a stopped run (Ctrl-C, SIGTERM, SIGKILL, a crash): same run id, completed trials kept, the
    interrupted trial run again (once: a trial that killed the process twice is closed instead), the
    remaining trial and time budgets honoured. Raises ``TrackerError`` for a completed or live run."""
    from autosearch.config import config_from_run
    from autosearch.tuning.kt_adapter import check_versions
    from autosearch.tuning.runner import Resumption

    check_versions()
    run = tracker.get_run(run_id)
    if run.status is RunStatus.COMPLETED:
        if run.run_dir is not None and run.run_dir.is_dir() and not (run.run_dir / "report.html").is_file():
            # stopped between its end and its report: only the report and the artifact records are left to do
            bundle = {"bundle": run.bundle, "manifest": run.bundle / "manifest.json"} if run.bundle else {}
            return _conclude(tracker, config_from_run(run.config, run_id), run_id, run.run_dir, bundle)
        raise TrackerError(f"run {run_id} completed; nothing to resume (start a new search instead).")
    if run.status is RunStatus.RUNNING:
        raise TrackerError(f"run {run_id} is still running; wait for it, or stop it before resuming.")
    cfg = config_from_run(run.config, run_id)
    split = prepare_data(cfg)
    check_same_data(split, run_id, run.fingerprint, "restore it to resume, or start a new search")
    if run.run_dir is None or not run.run_dir.is_dir():  # no AutoKeras project yet (killed before the tuner
        # started) is fine: the tuner starts one
        raise TrackerError(f"run {run_id} has no run directory {run.run_dir}; it cannot be resumed.")
    from autosearch.tracking.journal import replay_journal
    from autosearch.tuning.checkpoints import PROJECT
    from autosearch.tuning.resume import record_finished_trainings

    replay_journal(tracker, run.run_dir)  # what a held tracker lock kept in the journal, before the restart
    record_finished_trainings(tracker, run_id, run.run_dir / PROJECT, cfg.search.objective, cfg.search.direction)
    run = tracker.restart_run(run_id)  # its RUNNING trials are recorded INTERRUPTED, its time so far summed up
    elapsed = run.duration or 0.0
    search = [t for t in tracker.list_trials(run_id) if t.kind is TrialKind.SEARCH]
    attempts = collections.Counter(t.keras_trial_id for t in search)
    # a trial whose process died under it twice is closed, not run a third time; Ctrl-C and SIGTERM do not count
    killed = collections.Counter(t.keras_trial_id for t in search
                                 if t.state is TrialState.INTERRUPTED and t.extra.get("process_died"))
    resumption = Resumption(
        attempts=dict(attempts), abandon=frozenset(k for k, n in killed.items() if n >= 2), elapsed=elapsed,
        completed={t.trial_id: (t.keras_trial_id, t.objective) for t in search
                   if t.state is TrialState.COMPLETED and t.objective is not None})
    progress = progress or SilentProgress()
    progress.continue_from(len({t.keras_trial_id for t in search if t.state.is_finished()
                                and t.state is not TrialState.INTERRUPTED}))  # trial 2/3, not 1/3 again
    return _search(cfg, tracker, run_id, run.run_dir, split, progress, export, resumption,
                   baselines=cfg.search.baselines and not search)  # killed before the first trial


def _search(cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: SplitData,
            progress: Progress, export: bool, resumption: Any, chief: Any = None,
            baselines: bool = False) -> SearchResult:
    """Trials, then the best model's scores, predictions and bundle, then the run's end and report.
    ``baselines``: a resumed run whose kill came before its first trial scores the baselines it lacks."""
    from autosearch.export.bundle import score_and_export
    from autosearch.tuning.runner import run_trials

    since, t0 = time.time(), time.monotonic() - (resumption.elapsed if resumption else 0.0)
    status, best_trial_id, summary, artifacts = RunStatus.FAILED, None, RunSummary(), {}
    heartbeat = Heartbeat(tracker, run_id).__enter__()
    try:
        if baselines:
            _score_missing_baselines(tracker, run_id, cfg, split, progress)
        outcome = chief.run_trials(cfg, tracker, run_id, run_dir, split, progress, resumption) if chief else \
            run_trials(cfg, tracker, run_id, run_dir, split, progress, resumption, outputs=_row_outputs(cfg, split))
        chosen = _choose(cfg, tracker, run_id, run_dir, split, outcome, progress, distributed=chief is not None)
        best_trial_id = chosen.trial_id  # the exported model: the best trial, or the ensemble that beats it
        # the test split is touched here, once, by the chosen model: nothing above read a test score
        scores, bundle = score_and_export(chosen.model, chosen.pipeline, cfg, split,
                                          (run_id, best_trial_id, chosen.objective),
                                          run_dir / "export" if export else None, predictions=run_dir / "predictions",
                                          manifest_extra=chosen.manifest)
        summary = RunSummary(best_objective=chosen.objective, scores=scores, n_trials=outcome.n_trials,
                             baselines_won=tuple(baselines_that_won(tracker, run_id, scores)),
                             bundle=None if bundle is None else stored_path(bundle), selection=outcome.selection)
        if bundle is not None:
            artifacts = {"bundle": bundle, "manifest": bundle / "manifest.json"}
        if cfg.search.checkpoints == "best":
            _keep_only_the_best(run_dir, set(chosen.keep), bundle_written=export)
        status = RunStatus.COMPLETED
    except KeyboardInterrupt as exc:
        status = RunStatus.INTERRUPTED
        exc.marked = Marked(run_id, _interrupted_since(tracker, run_id, since))  # type: ignore[attr-defined]
        raise
    except BaseException as exc:
        summary = RunSummary(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        heartbeat.__exit__()
        summary = dataclasses.replace(summary, duration=time.monotonic() - t0)
        tracker.finish_run(run_id, status, ended_at=time.time(), best_trial_id=best_trial_id,
                           summary=summary.to_dict())
    return _conclude(tracker, cfg, run_id, run_dir, artifacts)


def _interrupted_since(tracker: Tracker, run_id: str, since: float) -> tuple[str, ...] | None:
    """The trials of ``run_id`` recorded INTERRUPTED since ``since`` (this process's), None if unreadable."""
    try:
        return tuple(t.trial_id for t in tracker.list_trials(run_id)
                     if t.state is TrialState.INTERRUPTED and (t.ended_at or 0.0) >= since)
    except Exception:  # noqa: BLE001 - the interrupt goes on; the message then names the run only
        return None


def _conclude(tracker: Tracker, cfg: PipelineConfig, run_id: str, run_dir: Path,
              artifacts: dict[str, Path]) -> SearchResult:
    """After the run's end is recorded: its report, the artifacts' records, the result."""
    for name, path in {**artifacts, **_write_run_report(tracker, run_id, run_dir)}.items():
        tracker.log_artifact(run_id, name, Path(stored_path(path)))
    run = tracker.get_run(run_id)
    return SearchResult(
        run_id=run_id, run_dir=run_dir, tracker_uri=tracker.uri, best_trial_id=run.best_trial_id,
        objective=cfg.search.objective, direction=cfg.search.direction, best_objective=run.best_objective,
        scores=run.scores, baseline=run.baseline, tensorboard_dir=run_dir / "tensorboard",
        duration=run.duration, n_trials=run.outcome.n_trials, bundle=run.bundle,
        baselines_won=run.outcome.baselines_won,
    )


def _score_missing_baselines(tracker: Tracker, run_id: str, cfg: PipelineConfig, split: SplitData,
                             progress: Progress) -> None:
    """The baselines a kill left unscored (it came before the tuner's first trial); those recorded are kept."""
    from autosearch.tuning.runner import log_baselines

    recorded = frozenset(t.trial_id for t in tracker.list_trials(run_id) if t.kind is TrialKind.BASELINE)
    log_baselines(tracker, run_id, cfg, split, progress, recorded)


def fit_settings(cfg: PipelineConfig, split: SplitData) -> tuple[PipelineConfig, dict[str, Any]]:
    """The pipeline with its ``"auto"`` space settings fitted to the training split, and those values.
    The run records the fitted pipeline, so export and reproduce rebuild exactly what was searched."""
    if cfg.graph or AUTO not in cfg.space.values():
        return cfg, {}
    space = get_space(cfg.search.space).fit(cfg.space, split.x("train"))
    fitted = {k: space[k] for k, v in cfg.space.items() if v == AUTO}
    return dataclasses.replace(cfg, space=space), fitted


def baselines_that_won(tracker: Tracker, run_id: str, scores: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Baselines whose test score beats the best model's (higher accuracy, lower error): the run's last
    lines and its record say so, with both scores."""
    lower_is_better = scores["metric"] != "accuracy"
    won = []
    for trial in tracker.find_trials([run_id], kinds=[TrialKind.BASELINE]):
        test = trial.extra.get("test")
        if test is not None and (test < scores["test"] if lower_is_better else test > scores["test"]):
            won.append({"trial_id": trial.trial_id, "model": trial.extra.get("model"), "metric": scores["metric"],
                        "test": test, "validation": trial.extra.get("validation"), "best_trial_test": scores["test"]})
    return sorted(won, key=lambda w: w["test"], reverse=not lower_is_better)


def stored_path(path: Path) -> str:
    """A path as the tracker records it: relative to ``AUTOSEARCH_HOME`` when inside it, so that a copied or
    moved home is self-contained (``RunInfo.run_dir`` resolves it back), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(autosearch_home().resolve()))
    except ValueError:
        return str(path)


def _row_outputs(cfg: PipelineConfig, split: SplitData) -> Any:
    """``outputs(model, pipeline, rows)``: a model's outputs on data set rows through the bundle's raw-input
    path (``export.outputs.model_outputs``), for the out-of-fold outputs of cross-validation (``cv.npz``)."""
    from autosearch.export.manifest import bundle_manifest
    from autosearch.export.outputs import model_outputs

    manifest = bundle_manifest(cfg, split, "", "", None)

    def outputs(model: Any, pipeline: Any, rows: Any) -> Any:
        return model_outputs(model, pipeline, manifest, dataclasses.replace(split, indices={"rows": rows}).x("rows"))

    return outputs


def _choose(cfg: PipelineConfig, tracker: Tracker, run_id: str, run_dir: Path, split: SplitData, outcome: Any,
            progress: Progress, distributed: bool) -> Any:
    """The model to export (``workflows.ensembling.Chosen``): the best trial, or an ensemble of trials that
    beats it on validation rows it was not chosen on. A distributed run exports its best trial."""
    from autosearch.workflows.ensembling import Chosen, choose_model

    if distributed:
        keras_id = tracker.get_trial(outcome.best_trial_id, with_epochs=False).keras_trial_id
        return Chosen(outcome.best_trial_id, outcome.best_objective, frozenset({str(keras_id)}), outcome.model,
                      outcome.pipeline)
    return choose_model(cfg, tracker, run_id, run_dir, split, outcome, progress)


def _keep_only_the_best(run_dir: Path, keep: set[str], bundle_written: bool) -> None:
    """The exported model's checkpoints (the best trial's, or the ensemble members') are what re-export and
    reproduce need; AutoKeras' own copy of the best model (``best_model.keras``) duplicates the bundle's
    ``model.keras`` once a bundle exists."""
    from autosearch.tuning.checkpoints import PROJECT, prune_checkpoints

    prune_checkpoints(run_dir, keep)
    if bundle_written:
        (run_dir / PROJECT / "best_model.keras").unlink(missing_ok=True)


def _write_run_report(tracker: Tracker, run_id: str, run_dir: Path) -> dict[str, Path]:
    """{"report": path} of the run's self-contained HTML report, kept in its directory (and published by
    trackers that publish); a report that cannot be drawn costs a warning, never the finished search."""
    from autosearch.fileio import write_text_atomic
    from autosearch.views.report import run_report_html

    path = run_dir / "report.html"
    try:
        write_text_atomic(path, run_report_html(tracker, tracker.get_run(run_id)))
    except Exception as exc:  # noqa: BLE001 - the run and its bundle are complete; the report is a view of them
        print(f"warning: the report of run {run_id} could not be drawn ({type(exc).__name__}: {exc}); "
              f"'autosearch report {run_id}' tries again.", file=sys.stderr)
        return {}
    return {"report": path}
