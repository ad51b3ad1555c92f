"""A greedy search's first trials (one per model family) take the pipeline's first listed values for every
other hyperparameter, in every process: KerasTuner filled them with unseeded random samples, so the same
seeded search trained different models from one process to the next."""

from __future__ import annotations

from pathlib import Path

import keras_tuner
import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.tracking import TrialKind
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.tuning.first_values import with_defaults
from autosearch.workflows.search import run_search


def test_missing_values_take_their_defaults_and_only_the_active_ones() -> None:
    space = keras_tuner.HyperParameters()
    space.Choice("family", ["linear", "ngram"])
    space.Choice("learning_rate", [0.003, 0.001])
    with space.conditional_scope("family", ["linear"]):
        space.Choice("weighting", ["idf", "binary"])
    with space.conditional_scope("family", ["ngram"]):
        space.Choice("embedding_dim", [64, 32])

    assert with_defaults(space, {"family": "linear"}) == \
        {"family": "linear", "learning_rate": 0.003, "weighting": "idf"}
    assert with_defaults(space, {"family": "ngram", "learning_rate": 0.001}) == \
        {"family": "ngram", "learning_rate": 0.001, "embedding_dim": 64}


@pytest.mark.search
def test_a_greedy_search_s_first_trials_take_the_first_listed_values(home: Path) -> None:
    cfg = load_pipeline(PIPELINES / "text.toml", {"data.max_rows": 200, "search.max_trials": 2,
                                                  "search.epochs": 1, "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)

    trials = sorted((t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH),
                    key=lambda t: int(t.keras_trial_id))
    assert [t.hyperparameters["text_block/family"] for t in trials] == cfg.space["family"][:2]
    for trial in trials:  # four draws of two or three values each: a random fill passes 1 time in 36
        assert trial.hyperparameters["learning_rate"] == cfg.space["learning_rate"][0]
    assert trials[0].hyperparameters["text_block/linear_weighting"] == cfg.space["linear_weighting"][0]
    assert trials[1].hyperparameters["text_block/embedding_dim"] == cfg.space["embedding_dim"][0]
