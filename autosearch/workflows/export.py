"""Export a tracked trial's model as a bundle: reload it from its run directory (tuning), then
write and verify the bundle (export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autosearch.config import config_from_run
from autosearch.data import prepare_data
from autosearch.data.split import check_same_data
from autosearch.errors import ExportError
from autosearch.tracking import Tracker, TrialKind, TrialState
from autosearch.tracking.records import trial_id_of
from autosearch.workflows.run_folder import ensure_run_folder


def resolve_run_id(tracker: Tracker, run_id: str | None) -> str:
    """``run_id``, or the newest run when none is given."""
    if run_id:
        return run_id
    runs = tracker.list_runs()
    if not runs:
        raise ExportError(f"no runs in {tracker.uri}; run a search first ('autosearch search --pipeline text').")
    return runs[0].run_id


def export_run(
    tracker: Tracker,
    run_id: str | None = None,
    trial_id: str | None = None,
    out: Path | None = None,
    force_h5: bool = False,
) -> Path:
    """Write the bundle of a run's best trial (or of ``trial_id``) and return its path.

    Defaults: ``<run dir>/export/`` for the best trial, ``<run dir>/exports/<trial>/``
    for another one. The data is reloaded and must still match the run's fingerprint.
    """
    from autosearch.export.bundle import check_replaceable, score_and_export
    from autosearch.tuning.automodel import load_trial_model
    from autosearch.tuning.checkpoints import checkpoint_path

    if out is not None:
        check_replaceable(Path(out))  # before minutes of loading: export never overwrites what it did not write
    run = tracker.get_run(resolve_run_id(tracker, run_id))
    ensure_run_folder(tracker, run)  # a run read back from MLflow: its folder, when it was logged
    if trial_id and "/" not in trial_id:
        trial_id = trial_id_of(run.run_id, trial_id)
    trial_id = trial_id or run.best_trial_id
    if not trial_id:
        raise ExportError(f"run {run.run_id} has no best trial ({run.status.value}); name one with --trial.")
    trial = tracker.get_trial(trial_id, with_epochs=False)
    if trial.run_id != run.run_id:
        raise ExportError(f"trial {trial_id} belongs to run {trial.run_id}, not {run.run_id}.")
    if trial.kind is TrialKind.ENSEMBLE:
        return _export_ensemble(run, trial, out, force_h5)
    if trial.kind is not TrialKind.SEARCH:
        hint = " (use 'autosearch reproduce TRIAL --export' for a reproduction)" if trial.kind is TrialKind.REPRODUCTION else ""
        raise ExportError(f"trial {trial_id} is a {trial.kind.value} trial; export takes search trials{hint}.")
    if trial.state is not TrialState.COMPLETED:
        raise ExportError(f"trial {trial_id} is {trial.state.value}; only completed trials have a model to export.")
    run_dir, keras_id = run.run_dir, trial.keras_trial_id
    out = Path(out) if out else run_dir / ("export" if trial_id == run.best_trial_id else f"exports/{keras_id}")
    check_replaceable(out)  # the default folder too, before minutes of loading
    checkpoint = checkpoint_path(run_dir, keras_id)
    if not checkpoint.is_file():
        raise ExportError(f"trial {trial_id} has no checkpoint at {checkpoint} (only the best trial's is kept "
                          "unless search.checkpoints = \"all\", and 'autosearch gc' removes them); reproduce it "
                          "with 'autosearch reproduce TRIAL --export' instead.")
    cfg = config_from_run(run.config, run.run_id)
    split = prepare_data(cfg)
    check_same_data(split, run.run_id, run.fingerprint, "restore it to export this run")
    model, pipeline = load_trial_model(cfg, split, run_dir, keras_id)
    return score_and_export(model, pipeline, cfg, split, (run.run_id, trial_id, trial.objective), out,
                            force_h5=force_h5)[1]


def _export_ensemble(run: Any, trial: Any, out: Path | None, force_h5: bool) -> Path:
    """An ensemble row's bundle, rebuilt from its members' checkpoints with its recorded weights."""
    from autosearch.export.bundle import check_replaceable, score_and_export
    from autosearch.workflows.ensembling import rebuild_ensemble

    out = Path(out) if out else run.run_dir / ("export" if trial.trial_id == run.best_trial_id
                                               else f"exports/{trial.local_id}")
    check_replaceable(out)
    cfg = config_from_run(run.config, run.run_id)
    split = prepare_data(cfg)
    check_same_data(split, run.run_id, run.fingerprint, "restore it to export this run")
    model, pipeline = rebuild_ensemble(cfg, split, run.run_dir, trial)
    return score_and_export(model, pipeline, cfg, split, (run.run_id, trial.trial_id, trial.objective), out,
                            force_h5=force_h5, manifest_extra={"ensemble": {"members": list(trial.extra["members"])}})[1]
