"""Greedy ensemble selection with replacement and its cross-fitted export decision, on known arrays (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from autosearch.tuning import ensemble as ens


def one_hot(classes: np.ndarray, n_classes: int = 2, confidence: float = 0.9) -> np.ndarray:
    out = np.full((len(classes), n_classes), (1.0 - confidence) / (n_classes - 1))
    out[np.arange(len(classes)), classes] = confidence
    return out


def complementary(n: int = 300, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Three classifiers, each right on a different two thirds of the rows: any two averaged with the third
    outvote the one that is wrong, so the ensemble of all three is right everywhere; each alone is 2/3 right.
    Trial 0 is sure when right and unsure when wrong; so, less so, are the others."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    part = np.arange(n) % 3
    outputs = []
    for k, (sure, unsure) in enumerate([(0.95, 0.6), (0.9, 0.6), (0.9, 0.6)]):
        right = part != k
        predicted = np.where(right, y, 1 - y)
        outputs.append(np.where(right[:, None], one_hot(predicted, 2, sure), one_hot(predicted, 2, unsure)))
    return outputs, y


def test_greedy_selection_adds_with_replacement_until_no_addition_helps() -> None:
    outputs, y = complementary()
    counts = ens.greedy_select(outputs, y, "accuracy")
    assert all(c >= 1 for c in counts)  # every member is needed to outvote each one's mistakes
    mean = ens.weighted_mean(outputs, counts)
    assert np.mean(mean.argmax(axis=1) == y) == 1.0
    assert np.mean(outputs[0].argmax(axis=1) == y) == pytest.approx(2 / 3)


def test_greedy_selection_picks_a_trial_again_when_that_scores_best() -> None:
    y = np.array([0, 0, 0, 1])
    good = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.45, 0.55]])  # right everywhere, barely on row 3
    noisy = np.array([[0.4, 0.6], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9]])  # wrong on row 0, sure on row 3
    counts = ens.greedy_select([good, noisy], y, "log_loss", steps=10)
    assert counts[0] > counts[1] >= 1  # with replacement: the good trial weighs more than once
    assert np.mean(ens.row_scores(ens.weighted_mean([good, noisy], counts), y, "log_loss")) > np.mean(
        ens.row_scores(good, y, "log_loss"))


def test_a_tie_goes_to_the_earlier_candidate_and_the_shorter_ensemble() -> None:
    y = np.array([0, 1, 0, 1])
    same = one_hot(y)
    assert ens.greedy_select([same, same.copy()], y, "accuracy") == [1, 0]
    assert ens.best_single([same, same.copy()], y, "accuracy") == 0


def test_the_member_and_latency_caps_bound_the_ensemble() -> None:
    outputs, y = complementary()
    assert sum(1 for c in ens.greedy_select(outputs, y, "accuracy", max_members=2) if c) == 2
    slow = ens.greedy_select(outputs, y, "accuracy", latencies=[1.0, 1.0, 50.0], max_latency_ms=10.0)
    assert slow[2] == 0 and slow[0] >= 1
    # the first pick is never refused: a single trial is no ensemble to cap
    assert sum(ens.greedy_select(outputs, y, "accuracy", latencies=[50.0] * 3, max_latency_ms=10.0)) >= 1


def test_regression_outputs_are_averaged_on_the_error_metric() -> None:
    y = np.linspace(0.0, 1.0, 50)
    over, under = y + 0.2, y - 0.2
    counts = ens.greedy_select([over, under], y, "mae")
    assert counts[0] == counts[1]
    assert np.allclose(ens.weighted_mean([over, under], counts), y)


def test_the_cross_fitted_decision_exports_an_ensemble_that_beats_the_best_single_trial_on_unseen_folds() -> None:
    outputs, y = complementary(600)
    decision = ens.cross_fitted(outputs, y, "accuracy", seed=0)
    assert decision.folds == ens.FOLDS
    assert decision.single == pytest.approx(2 / 3, abs=0.05) and decision.ensemble == 1.0
    assert decision.gain >= decision.margin and decision.gain > decision.standard_error
    assert decision.export


def test_the_cross_fitted_decision_refuses_an_ensemble_whose_gain_is_noise() -> None:
    # two near copies of one classifier: averaging them changes nothing the margin can see
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    base = np.clip(one_hot(y, 2, 0.7) + rng.normal(0, 0.3, (400, 1)) * np.array([[1, -1]]), 0.01, 0.99)
    twin = np.clip(base + rng.normal(0, 0.02, base.shape), 0.01, 0.99)
    decision = ens.cross_fitted([base, twin], y, "accuracy", seed=0)
    assert not decision.export
    assert abs(decision.gain) < ens.MARGIN


def test_the_cross_fitted_decision_judges_each_fold_with_choices_made_without_it() -> None:
    # a candidate right only by luck on a few rows: chosen on all rows it would win, but never on its own fold
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    honest = one_hot(np.where(rng.random(200) < 0.8, y, 1 - y), 2, 0.8)
    decision = ens.cross_fitted([honest, one_hot(1 - y, 2, 0.5001)], y, "accuracy", seed=3)
    in_sample = ens.greedy_select([honest, one_hot(1 - y, 2, 0.5001)], y, "accuracy")
    assert decision.ensemble <= np.mean(ens.row_scores(
        ens.weighted_mean([honest, one_hot(1 - y, 2, 0.5001)], in_sample), y, "accuracy")) + 1e-12
    assert not decision.export


def test_the_margin_is_relative_for_error_metrics() -> None:
    y = np.linspace(0.0, 10.0, 100)
    decision = ens.cross_fitted([y + 1.0, y - 1.0], y, "mae")
    assert decision.margin == pytest.approx(ens.RELATIVE_MARGIN * abs(decision.single))
    assert decision.export and decision.ensemble == pytest.approx(0.0)


def test_the_metric_follows_the_search_objective() -> None:
    assert ens.metric_of("val_accuracy", "classification") == "accuracy"
    assert ens.metric_of("val_loss", "classification") == "log_loss"
    assert ens.metric_of("val_mean_absolute_error", "regression") == "mae"
    assert ens.metric_of("val_loss", "regression") == "mse"
