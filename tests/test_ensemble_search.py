"""Real small searches whose ensemble is exported, or not, and what the ensemble's bundle and row hold."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ensemble_spaces import two_column_table

import autosearch
from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.errors import ExportError, ReproduceError
from autosearch.export.format import TOLERANCE
from autosearch.tracking import TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning.heldout import HELDOUT, outputs_path, read_outputs
from autosearch.views.leaderboard import ranked_rows
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search


def two_column_pipeline(folder: Path, ensemble: str = "auto", **overrides):
    """Two trials, one per column of a table whose label needs both: each alone is weak, together strong."""
    csv = two_column_table(folder / "two.csv")
    path = folder / "two.toml"
    path.write_text(f'name = "two"\ntask = "structured_classification"\n[data]\ndataset = "{csv}"\n'
                    'label_column = "label"\n[search]\nspace = "ensemble_spaces:one_column"\ntuner = "greedy"\n'
                    'epochs = 8\npatience = 0\nbaselines = false\nobjective = "val_accuracy"\ndirection = "max"\n'
                    f'max_trials = 2\nensemble = "{ensemble}"\n[space]\ncolumn = [0, 1]\noptimizer = "adam"\n'
                    'learning_rate = 0.01\n')
    return load_pipeline(path, overrides)


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("ensemble")
    home = folder / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOSEARCH_HOME", str(home))
    mp.delenv("AUTOSEARCH_CV_BELOW_ROWS")  # 120 validation rows: cross-validated, the ensemble reads its outputs
    try:
        tracker = SQLiteTracker(home / "tracker.db")
        cfg = two_column_pipeline(folder)
        result = run_search(cfg, tracker, home)
        yield tracker, result, cfg
    finally:
        mp.undo()


def members_of(tracker, result) -> list[dict]:
    return list(tracker.get_trial(result.best_trial_id).extra["members"])


def expected_outputs(result, members, part_rows) -> np.ndarray:
    """The weighted mean of the members' own held-out outputs (each scored alone, through the raw-input path)."""
    total = 0.0
    for m in members:
        with np.load(outputs_path(result.run_dir, m["keras_trial_id"])) as data:
            assert np.array_equal(data["rows"], part_rows)
            total = total + m["weight"] * data["outputs"]
    return total


def test_a_search_exports_the_ensemble_that_beats_its_best_trial_with_a_row_of_its_own(ensemble_run) -> None:
    tracker, result, cfg = ensemble_run
    row = tracker.get_trial(result.best_trial_id)
    assert row.kind is TrialKind.ENSEMBLE and row.state is TrialState.COMPLETED
    members = members_of(tracker, result)
    assert len(members) == 2 and sum(m["weight"] for m in members) == pytest.approx(1.0)
    assert sorted(m["keras_trial_id"] for m in members) == ["0", "1"]
    decision = row.extra["decision"]
    assert row.extra["outputs"] == "cv", "small data: chosen on the trials' out-of-fold outputs"
    assert row.extra["exported"] and decision["export"] and decision["gain"] >= decision["margin"]
    assert row.extra["margin_over_best_single"] > 0 and row.extra["margin_over_best_member"] > 0
    assert row.objective == pytest.approx(row.extra["validation"])
    assert result.scores["validation"] == pytest.approx(row.objective)
    # the bundle is the ensemble's; only its members' checkpoints are kept
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["trial_id"] == row.trial_id and manifest["ensemble"]["members"] == members
    kept = sorted(p.parent.name for p in result.run_dir.glob("autokeras/trial_*/checkpoint.weights.h5"))
    assert kept == ["trial_0", "trial_1"]
    # the leaderboard shows it, ranked first, with the test score of the exported model
    rows = ranked_rows(tracker.list_trials(result.run_id), {result.run_id: tracker.get_run(result.run_id)})
    assert (rows[0]["kind"], rows[0]["rank"], rows[0]["test_score"]) == ("ensemble", 1, result.scores["test"])
    assert rows[0]["hp.members"].count("×") == 2


def test_the_ensemble_bundle_answers_raw_inputs_in_every_format_as_its_weighted_members(ensemble_run,
                                                                                        tmp_path: Path) -> None:
    from autosearch.workflows.export import export_run

    tracker, result, cfg = ensemble_run
    split = prepare_data(cfg)
    members = members_of(tracker, result)
    expected = expected_outputs(result, members, split.indices["validation"])
    h5 = export_run(tracker, result.run_id, out=tmp_path / "h5", force_h5=True)  # `autosearch export --h5`
    for bundle in (result.bundle, h5):
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert max(manifest["verification"]["max_abs_diff"].values()) <= TOLERANCE
        for fmt in manifest["formats"]:
            got = autosearch.load(bundle, format=fmt).outputs(split.raw_x("validation"))
            assert np.max(np.abs(got - expected)) <= TOLERANCE, fmt
    assert set(json.loads((h5 / "manifest.json").read_text())["formats"]) == {"keras", "h5"}


def test_export_rebuilds_the_ensemble_and_reproduce_names_its_members_instead(ensemble_run, tmp_path: Path) -> None:
    from autosearch.workflows.export import export_run
    from autosearch.workflows.housekeeping import gc_plan
    from autosearch.workflows.reproduce import reproduce

    tracker, result, cfg = ensemble_run
    members = members_of(tracker, result)
    again = export_run(tracker, result.run_id, out=tmp_path / "again")
    assert json.loads((again / "manifest.json").read_text())["trial_id"] == result.best_trial_id
    with pytest.raises(ReproduceError, match="is an ensemble.*reproduce its member trials") as info:
        reproduce(tracker, result.best_trial_id)
    assert all(m["trial_id"] in str(info.value) for m in members)
    assert gc_plan(tracker, keep_best=True).checkpoints == []  # gc --keep-best keeps every member's weights
    ckpt = result.run_dir / "autokeras" / "trial_0" / "checkpoint.weights.h5"
    moved = tmp_path / "ckpt.h5"
    shutil.move(ckpt, moved)
    try:
        with pytest.raises(ExportError, match="cannot be rebuilt: no checkpoint for member"):
            export_run(tracker, result.run_id, out=tmp_path / "without")
    finally:
        shutil.move(moved, ckpt)


def test_no_export_decision_reads_a_test_score(ensemble_run) -> None:
    from autosearch.tuning.runner import SearchOutcome
    from autosearch.tuning.progress import SilentProgress
    from autosearch.workflows.ensembling import choose_model

    tracker, result, cfg = ensemble_run
    split = prepare_data(cfg)
    ensemble = tracker.get_trial(result.best_trial_id)
    best = tracker.get_trial(ensemble.extra["best_single"])
    y = split.dataset.y.copy()
    test = split.indices["test"]
    y[test] = 1 - y[test]  # every test label wrong
    flipped = dataclasses.replace(split, dataset=dataclasses.replace(split.dataset, y=y))
    for trial in ("0", "1"):  # scored again, with the flipped labels in the split
        outputs_path(result.run_dir, trial).unlink()
    outcome = SearchOutcome(best.trial_id, best.objective, 2, None, None)
    chosen = choose_model(cfg, tracker, result.run_id, result.run_dir, flipped, outcome, SilentProgress())
    again = tracker.get_trial(chosen.trial_id)
    assert again.kind is TrialKind.ENSEMBLE and again.trial_id == f"{result.run_id}/ensemble-2"
    assert again.extra["members"] == ensemble.extra["members"]
    assert again.extra["decision"] == ensemble.extra["decision"]


def test_a_search_whose_ensemble_does_not_beat_its_best_trial_exports_the_trial(tmp_path: Path,
                                                                                  home: Path) -> None:
    # both trials look at the same column: averaging them gains nothing past the margin
    tracker = SQLiteTracker(home / "tracker.db")
    cfg = two_column_pipeline(tmp_path, **{"space.column": [1], "search.epochs": 4, "space.learning_rate":
                                           [0.01, 0.003]})
    result = run_search(cfg, tracker, home)
    best = tracker.get_trial(result.best_trial_id)
    assert best.kind is TrialKind.SEARCH
    search = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert len(search) == 2 and all(read_outputs(result.run_dir, t) is not None for t in search)
    assert all((result.run_dir / "trials" / t.keras_trial_id / HELDOUT).is_file() for t in search)
    for row in tracker.find_trials([result.run_id], kinds=[TrialKind.ENSEMBLE]):
        assert row.objective is None and not row.extra["exported"] and not row.extra["decision"]["export"]
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["trial_id"] == best.trial_id and "ensemble" not in manifest
    kept = [p.parent.name for p in result.run_dir.glob("autokeras/trial_*/checkpoint.weights.h5")]
    assert kept == [f"trial_{best.keras_trial_id}"]
