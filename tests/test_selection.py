"""The selection rule in real (tiny) searches: ties, cross-validation on small data, holdout on large data."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.tracking import RunInfo, TrialKind, TrialState
from autosearch.tracking.selection import candidate_of, choose, in_band, tie_key
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning import crossval
from autosearch.views.leaderboard import leaderboard_rows
from autosearch.workflows.search import fit_settings, run_search

pytestmark = pytest.mark.search
TINY = {"data.max_rows": 300, "search.epochs": 1, "search.ensemble": "off", "search.baselines": False}


def tiny(**overrides):
    return load_pipeline(PIPELINES / "text.toml", {**TINY, **overrides})


def search_trials(tracker: SQLiteTracker, run_id: str) -> list:
    return [t for t in tracker.list_trials(run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]


def test_a_tie_goes_to_the_lower_validation_loss_in_the_oracle_the_export_and_the_leaderboard(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed 1's two trials (linear, then ngram) score the same on 30 validation rows; the second has the lower
    validation loss.
    KerasTuner's oracle kept the first of equal scores (and the search pruned the other's checkpoint)."""
    import keras

    from autosearch.tuning.checkpoints import checkpoint_path

    monkeypatch.setenv(crossval.THRESHOLD_VARIABLE, "0")  # holdout: this test is about the tie alone
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(tiny(**{"search.max_trials": 2, "search.seed": 1}), tracker, home)
    trials = search_trials(tracker, result.run_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2
    first, second = (candidate_of(t, "val_accuracy", 30) for t in trials)
    assert in_band(first, second, "max") and in_band(second, first, "max"), "the two trials tie"
    assert second.val_loss < first.val_loss, "the data of this test: the later trial has the lower loss"
    chosen = min((first, second), key=tie_key).trial_id
    assert chosen == trials[1].trial_id

    run = tracker.get_run(result.run_id)
    assert run.best_trial_id == chosen  # the oracle's best (runner asks it), the run's record
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["trial_id"] == chosen
    kept = checkpoint_path(result.run_dir, trials[1].keras_trial_id)
    assert kept.is_file() and not checkpoint_path(result.run_dir, trials[0].keras_trial_id).exists()
    exported = keras.models.load_model(result.bundle / "model.keras", compile=False)
    assert trials[0].trainable_params != trials[1].trainable_params  # so the exported model tells them apart
    assert sum(int(np.prod(w.shape)) for w in exported.trainable_weights) == trials[1].trainable_params

    rows = leaderboard_rows(result.run_id)
    assert [r["trial_id"] for r in rows] == [trials[1].trial_id, trials[0].trial_id]
    assert [r["rank"] for r in rows] == [1, 2] and [r["tie"] for r in rows] == [True, True]
    assert rows[0]["selection_se"] == pytest.approx(np.sqrt(second.score * (1 - second.score) / 30))  # its own
    assert all(t.extra["selection"]["method"] == "holdout" for t in trials)


def test_small_data_compares_trials_by_cross_validation_and_records_folds_spread_and_threshold(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crossval.THRESHOLD_VARIABLE)  # the shipped threshold (tests' home turns it off)
    from autosearch.export.manifest import bundle_manifest
    from autosearch.export.outputs import model_outputs
    from autosearch.tuning.progress import SilentProgress
    from autosearch.tuning.runner import run_trials

    split = prepare_data(tiny())
    cfg, _ = fit_settings(tiny(**{"search.max_trials": 1}), split)  # as the search workflow does
    assert len(split.indices["validation"]) == 30 < crossval.CV_BELOW_VALIDATION_ROWS
    tracker = SQLiteTracker(home / "tracker.db")
    run_id, run_dir = "20261203-000000-cv01", home / "runs" / "cv"
    run_dir.mkdir(parents=True)
    tracker.start_run(RunInfo(run_id=run_id, pipeline=cfg.name, task=cfg.task, dataset=split.dataset.name,
                              seed=0, started_at=time.time(), config=cfg.to_dict(), data=split.summary()))
    manifest = bundle_manifest(cfg, split, run_id, "", None)
    outcome = run_trials(cfg, tracker, run_id, run_dir, split, SilentProgress(),
                         outputs=lambda m, p, rows: model_outputs(m, p, manifest, split.dataset.x[rows]))

    (trial,) = tracker.list_trials(run_id)  # the fold fits are no rows of the run
    selection = trial.extra["selection"]
    assert selection["method"] == "cv" and selection["validation_rows"] == 30
    assert selection["cv_below_validation_rows"] == crossval.CV_BELOW_VALIDATION_ROWS
    cv = selection["cv"]
    assert cv["folds"] == crossval.FOLDS == len(cv["scores"]) == len(cv["val_losses"])
    assert cv["mean"] == pytest.approx(np.mean(cv["scores"])) and cv["std"] == pytest.approx(np.std(cv["scores"], ddof=1))
    assert cv["se"] == pytest.approx(cv["std"] / np.sqrt(crossval.FOLDS)) and cv["epochs"] == trial.best_epoch + 1
    assert outcome.selection["method"] == "cv" and outcome.selection["cross_validated"] == [trial.trial_id]
    rows = leaderboard_rows(run_id)
    assert rows[0]["selection_score"] == cv["mean"] and rows[0]["cv_folds"] == crossval.FOLDS

    folder = run_dir / "trials" / trial.keras_trial_id
    assert not (folder / "cv-folds").exists(), "the fold fits' scratch folder is removed"
    with np.load(folder / crossval.CROSSVAL) as saved:
        oof_rows, fold, outputs = saved["rows"], saved["fold"], saved["outputs"]
    train_and_validation = np.sort(np.concatenate([split.indices["train"], split.indices["validation"]]))
    assert np.array_equal(oof_rows, train_and_validation), "every train + validation row once, no test row"
    assert outputs.shape == (len(oof_rows), 2) and sorted(set(fold.tolist())) == list(range(crossval.FOLDS))
    correct = outputs.argmax(axis=1) == split.dataset.y[oof_rows]
    # each fold's score is its last epoch's, on the rows it held out: the out-of-fold outputs score the same
    assert [float(correct[fold == k].mean()) for k in range(crossval.FOLDS)] == pytest.approx(cv["scores"], abs=1e-6)


def test_large_data_selects_on_holdout_and_no_choice_reads_a_test_score(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """540 validation rows: holdout. The same search with every test label flipped trains the same trials (a
    seeded search repeats) and chooses the same, by the rule on what each run recorded of its validation rows."""
    monkeypatch.delenv(crossval.THRESHOLD_VARIABLE)  # the shipped threshold (tests' conftest turns it off)
    cfg = tiny(**{"data.max_rows": 900, "split.validation": 0.6, "search.max_trials": 2})
    split = prepare_data(cfg)
    assert len(split.indices["validation"]) >= crossval.CV_BELOW_VALIDATION_ROWS
    y = split.dataset.y.copy()
    y[split.indices["test"]] = 1 - y[split.indices["test"]]
    flipped = dataclasses.replace(split, dataset=dataclasses.replace(split.dataset, y=y))
    tracker = SQLiteTracker(home / "tracker.db")
    results = [run_search(cfg, tracker, home, split=s) for s in (split, flipped)]

    chosen, seen = [], []
    for result in results:
        trials = search_trials(tracker, result.run_id)
        for t in trials:
            assert t.extra["selection"]["method"] == "holdout" and "cv" not in t.extra["selection"]
            assert t.extra["selection"]["validation_rows"] == len(split.indices["validation"])
        rows = len(split.indices["validation"])
        rule = choose([c for t in trials if (c := candidate_of(t, "val_accuracy", rows))], "max")
        assert result.best_trial_id == rule.trial_id, "the choice is the rule's, on validation records alone"
        assert leaderboard_rows(result.run_id)[0]["trial_id"] == result.best_trial_id
        chosen.append(result.best_trial_id.split("/")[1])
        seen.append([(t.keras_trial_id, t.hyperparameters, t.objective, t.extra["selection"]["val_loss"])
                     for t in trials])
    assert [s[:2] for s in seen[0]] == [s[:2] for s in seen[1]], "a seeded search repeats its trials"
    assert [v for s in seen[0] for v in s[2:]] == pytest.approx([v for s in seen[1] for v in s[2:]], abs=1e-5), \
        "the same trials score the same on the same validation rows"
    assert chosen[0] == chosen[1]
    assert results[0].scores["test"] == pytest.approx(1 - results[1].scores["test"])
