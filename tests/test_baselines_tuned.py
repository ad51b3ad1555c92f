"""The text baseline is a TF-IDF + logistic regression tuned on the validation split, never on test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.tuning.baselines import (TEXT_C, TEXT_NGRAMS, _logreg, _tfidf, choose_on_validation, run_baselines,
                                         tuned_text_model)


@pytest.fixture(scope="module")
def split():
    return prepare_data(load_pipeline(PIPELINES / "text.toml", {"data.max_rows": 2000}))


def test_the_text_baseline_records_the_settings_it_chose_on_validation(split) -> None:
    majority, tuned = run_baselines(split, seed=0)
    settings = tuned.settings
    assert tuned.name == "tfidf_logreg"
    assert tuple(settings["ngram_range"]) in TEXT_NGRAMS and settings["C"] in TEXT_C
    assert settings["tried"] == len(TEXT_NGRAMS) * len(TEXT_C)
    assert "tuned on validation" in tuned.description and f"C={settings['C']:g}" in tuned.description
    assert tuned.validation > majority.validation and tuned.test > majority.test


def test_the_text_baseline_fits_three_classes() -> None:
    """The debates' statements: Democratic, Republican, Moderator (liblinear refused more than two classes)."""
    three = prepare_data(load_pipeline(PIPELINES / "text.toml", {"data.dataset": "debates"}))
    majority, tuned = run_baselines(three, seed=0)
    assert len(three.dataset.class_names) == 3
    assert tuned.name == "tfidf_logreg" and tuned.validation > majority.validation


def test_the_text_baselines_choice_does_not_move_when_the_test_labels_favour_other_settings(split) -> None:
    _, chosen = tuned_text_model(split)
    # Label the test rows with what a model of other settings predicts: it scores 100% on test, so a choice
    # that read test labels would take its settings. The train and validation rows are untouched.
    other = {"ngram_range": [1, 1] if chosen["ngram_range"] == [1, 2] else [1, 2],
             "C": TEXT_C[0] if chosen["C"] != TEXT_C[0] else TEXT_C[-1]}
    vectorizer = _tfidf(tuple(other["ngram_range"])).fit(list(split.x("train")))
    model = _logreg(other["C"], 2).fit(vectorizer.transform(list(split.x("train"))), split.y("train"))
    y = split.dataset.y.copy()
    y[split.indices["test"]] = model.predict(vectorizer.transform(list(split.x("test"))))
    assert not np.array_equal(y, split.dataset.y), "the test labels changed"
    relabelled = replace(split, dataset=replace(split.dataset, y=y))
    assert tuned_text_model(relabelled)[1] == chosen


def test_settings_within_one_standard_error_tie_and_the_lower_validation_loss_wins() -> None:
    def candidate(name: str, accuracy: float, loss: float, size: int) -> dict:
        return {"settings": {"name": name}, "accuracy": accuracy, "loss": loss, "size": size}

    # 400 validation rows at 80%: one standard error is 2 points
    tied = [candidate("best accuracy", 0.80, 0.50, 0), candidate("lower loss", 0.79, 0.45, 1),
            candidate("outside the band", 0.70, 0.30, 2)]
    assert choose_on_validation(tied, 400)["settings"]["name"] == "lower loss"
    assert choose_on_validation(tied, 1_000_000)["settings"]["name"] == "best accuracy"
    same = [candidate("larger", 0.8, 0.4, 5), candidate("smaller", 0.8, 0.4, 1)]
    assert choose_on_validation(same, 400)["settings"]["name"] == "smaller"
    assert choose_on_validation(same[::-1], 400)["settings"]["name"] == "smaller"
