"""Failure paths, produced for real: trials that raise, diverge or do not fit, KerasTuner's stop after
consecutive failures, and exports whose formats fail, disagree or cannot be renamed into place."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import PIPELINES

import autosearch
from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.errors import ExportError, SearchError
from autosearch.export.bundle import write_bundle
from autosearch.tracking import RunStatus, TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search


def table_pipeline(tmp_path: Path, space: str, values: str, **overrides):
    path = tmp_path / "fragile.toml"
    path.write_text(f'name = "fragile"\ntask = "structured_classification"\n[data]\ndataset = "breast_cancer"\n'
                    f'[search]\nspace = "{space}"\ntuner = "greedy"\nepochs = 2\npatience = 0\n'
                    f'objective = "val_accuracy"\ndirection = "max"\n[space]\n{values}\n')
    return load_pipeline(path, {"search.max_trials": 6, "search.ensemble": "off", **overrides})  # the best: a trial


def search_trials(tracker: SQLiteTracker, run_id: str):
    return [t for t in tracker.list_trials(run_id) if t.kind is TrialKind.SEARCH]


def test_a_block_that_raises_is_a_failed_trial_and_three_in_a_row_stop_the_search(home: Path, tmp_path: Path,
                                                                                   capfd: pytest.CaptureFixture) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = table_pipeline(tmp_path, "failing_spaces:raising", "layers = [1, 2, 3, 4]")  # greedy tries 1 first
    with pytest.raises(SearchError, match="KerasTuner stopped the search after consecutive failed trials "
                                          r"\(ValueError: a block with \d layers fails on purpose; "):
        run_search(cfg, tracker, home)
    (run,) = tracker.list_runs()
    trials = search_trials(tracker, run.run_id)
    assert trials[0].state is TrialState.COMPLETED and [t.state for t in trials[-3:]] == [TrialState.FAILED] * 3
    for trial in trials:  # every trial with more than one layer raised, and only those
        failed = trial.hyperparameters["fragile/layers"] > 1
        assert trial.state is (TrialState.FAILED if failed else TrialState.COMPLETED)
        assert ("fails on purpose" in trial.error) if failed else trial.error is None
        if failed:  # the whole traceback is kept in the trial's folder, not printed
            assert "raise ValueError" in (run.run_dir / trial.extra["traceback"]).read_text()
    assert "Traceback" not in capfd.readouterr().err
    assert run.status is RunStatus.FAILED and "consecutive failed trials" in run.summary["error"]


def test_a_loss_that_turns_nan_is_a_failed_trial_that_stops_at_once(home: Path, tmp_path: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = table_pipeline(tmp_path, "failing_spaces:diverging", "layers = 1", **{"search.max_trials": 1,
                                                                                 "search.epochs": 5})
    with pytest.raises(SearchError, match="no trial completed .*loss was not finite at epoch 0"):
        run_search(cfg, tracker, home)
    (trial,) = search_trials(tracker, tracker.list_runs()[0].run_id)
    trial = tracker.get_trial(trial.trial_id)
    assert trial.state is TrialState.FAILED and trial.objective is None
    assert [e.epoch for e in trial.epochs] == [0], "training stops at the first epoch with a NaN loss"
    assert "lower the learning rate" in trial.error


def test_a_trial_whose_loss_turned_nan_is_never_the_best_and_the_search_goes_on(home: Path, tmp_path: Path) -> None:
    # NaN outputs still give a finite accuracy (every row one class): KerasTuner must not rank it best either,
    # else its checkpoint is pruned as not the best and the end of the search fails to load it.
    import failing_spaces

    tracker = SQLiteTracker(home / "tracker.db")
    cfg = table_pipeline(tmp_path, "failing_spaces:diverging_first", "layers = 1", **{"search.max_trials": 3})
    failing_spaces.BUILDS = 0
    result = run_search(cfg, tracker, home)
    first, *others = search_trials(tracker, result.run_id)
    assert first.state is TrialState.FAILED and "loss was not finite" in first.error
    assert others and all(t.state is TrialState.COMPLETED for t in others)
    assert result.best_trial_id in {t.trial_id for t in others}
    assert np.isfinite(autosearch.load(result.bundle).outputs(prepare_data(cfg).raw_x("test"))).all()


def test_an_oversized_model_is_an_invalid_trial_with_the_reason(home: Path, tmp_path: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = table_pipeline(tmp_path, "failing_spaces:raising", "width = [8, 50000]",  # the first (8) fits
                         **{"search.max_trials": 4, "search.epochs": 1, "search.max_model_size": 100_000,
                            "search.tuner": "random"})
    run_search(cfg, tracker, home)
    trials = search_trials(tracker, tracker.list_runs()[0].run_id)
    big = [t for t in trials if t.hyperparameters["fragile/width"] == 50000]
    assert big and all(t.state is TrialState.INVALID and "Oversized model" in t.error for t in big)
    assert all(t.state is TrialState.COMPLETED for t in trials if t not in big)


# -- exports that fail --------------------------------------------------------------------------------------
@keras.utils.register_keras_serializable(package="test_failure_paths")
class ForgetfulScale(keras.layers.Layer):
    """Multiplies by ``factor``, but its config forgets the factor: a reloaded model differs."""

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self) -> dict:
        config = super().get_config()  # Keras records constructor arguments by itself: drop one
        config.pop("factor", None)
        return config


@keras.utils.register_keras_serializable(package="test_failure_paths")
class StaticBatch(keras.layers.Layer):
    """Needs a known batch size: fine in Keras, but a SavedModel signature has none."""

    def call(self, x):
        return keras.ops.reshape(x, (int(x.shape[0]), -1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A real table model, its fitted preprocessing and manifest, and 30 raw validation rows."""
    home = tmp_path_factory.mktemp("table")
    cfg = load_pipeline(PIPELINES / "structured.toml", {"search.max_trials": 1, "search.epochs": 1,
                                                        "search.ensemble": "off"})
    result = run_search(cfg, SQLiteTracker(home / "tracker.db"), home)
    predictor = autosearch.load(result.bundle)
    return predictor, prepare_data(cfg).raw_x("validation")[:30], result.bundle


def wrapped(model, layer):
    return keras.Model(model.inputs, layer(model.outputs[0]))


def test_an_export_whose_reload_disagrees_is_refused_and_writes_nothing(trained, tmp_path: Path) -> None:
    predictor, rows, bundle = trained
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="does not reproduce the in-memory predictions"):
        write_bundle(wrapped(predictor._model, ForgetfulScale(3.0)), predictor._pipeline, out, predictor.manifest,
                     rows)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_model_that_cannot_be_a_saved_model_falls_back_to_h5_and_says_why(trained, tmp_path: Path) -> None:
    predictor, rows, _ = trained
    out = write_bundle(wrapped(predictor._model, StaticBatch()), predictor._pipeline, tmp_path / "bundle",
                       predictor.manifest, rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"keras", "h5"} and manifest["h5_fallback_reason"]
    assert max(manifest["verification"]["max_abs_diff"].values()) == 0.0
    assert np.array_equal(autosearch.load(out, format="h5").outputs(rows), predictor.outputs(rows))


def test_a_failed_rename_puts_the_previous_bundle_back(trained, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    predictor, rows, bundle = trained
    out = tmp_path / "bundle"
    write_bundle(predictor._model, predictor._pipeline, out, {**predictor.manifest, "note": "previous"}, rows)
    real_rename = Path.rename

    def full_disk_for_the_new_bundle(self: Path, target):
        if self.name.startswith(".bundle.tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", full_disk_for_the_new_bundle)  # the OS error, injected at that step
    with pytest.raises(OSError, match="No space left"):
        write_bundle(predictor._model, predictor._pipeline, out, {**predictor.manifest, "note": "new"}, rows)
    monkeypatch.undo()
    assert json.loads((out / "manifest.json").read_text())["note"] == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"], "no temporary or swapped-out folder is left"
    assert np.array_equal(autosearch.load(out).outputs(rows), predictor.outputs(rows))
