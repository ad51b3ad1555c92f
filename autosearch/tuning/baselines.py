"""Reference models scored on the same split as the search.

A majority-class (or mean) predictor, and one strong classical model per
data kind: TF-IDF + logistic regression for text, gradient boosting for
tables, logistic regression on pixels for images. scikit-learn only.

The text model is *tuned*: its n-gram range and C are chosen on the validation split by the
selection rule the trials follow (settings whose validation accuracy lies within one binomial
standard error of the best tie; a tie goes to the lower validation log loss, then to the simpler
setting, never to order). The test split is scored once, by the chosen model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.data import SplitData, majority_baseline
from autosearch.data.impute import is_numeric


@dataclass(frozen=True)
class BaselineResult:
    name: str
    description: str
    metric: str  # accuracy | mean_absolute_error
    validation: float
    test: float
    seconds: float
    settings: Mapping[str, Any] = field(default_factory=dict)  # what was chosen on validation (tuned models)


TEXT_NGRAMS = ((1, 1), (1, 2))  # word n-gram ranges the text baseline tries
TEXT_C = (0.25, 1.0, 4.0, 16.0, 64.0)  # inverse L2 strengths it tries (a log grid)
TEXT_SUBLINEAR_TF = True  # 1 + log(tf): measured no worse than raw counts on Rotten Tomatoes, never tuned


def _tfidf(ngrams: tuple[int, int]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=ngrams, sublinear_tf=TEXT_SUBLINEAR_TF)


def _logreg(c: float, classes: int) -> Any:
    """liblinear is the fastest on two classes and cannot fit more (it raises): lbfgs fits a multinomial."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear" if classes <= 2 else "lbfgs", max_iter=1000)


def choose_on_validation(candidates: list[dict[str, Any]], n_validation: int) -> dict[str, Any]:
    """The candidate the selection rule picks: ``candidates`` are ``{"settings", "accuracy", "loss",
    "size"}`` in validation terms; those within one binomial standard error of the best accuracy tie,
    and a tie goes to the lower loss, then the smaller ``size``."""
    best = max(c["accuracy"] for c in candidates)
    band = (best * (1.0 - best) / max(n_validation, 1)) ** 0.5
    tied = [c for c in candidates if c["accuracy"] >= best - band - 1e-12]
    return min(tied, key=lambda c: (c["loss"], c["size"]))


def tuned_text_model(split: SplitData) -> tuple[Any, dict[str, Any]]:
    """TF-IDF + logistic regression with its n-gram range and C chosen on ``split``'s validation rows
    (train and validation only are read), fitted on train; and the chosen settings."""
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline

    texts, y = list(split.x("train")), split.y("train")
    val_texts, val_y = list(split.x("validation")), split.y("validation")
    labels = np.unique(y)
    candidates = []
    for ngrams in TEXT_NGRAMS:
        vectorizer = _tfidf(ngrams).fit(texts)
        train, val = vectorizer.transform(texts), vectorizer.transform(val_texts)
        for size, c in enumerate(TEXT_C):
            proba = _logreg(c, len(labels)).fit(train, y).predict_proba(val)
            candidates.append({"settings": {"ngram_range": list(ngrams), "C": c, "sublinear_tf": TEXT_SUBLINEAR_TF},
                               "accuracy": float(np.mean(labels[proba.argmax(1)] == val_y)),
                               "loss": float(log_loss(val_y, proba, labels=labels)),
                               "size": (ngrams[1], size)})
    chosen = choose_on_validation(candidates, len(val_y))
    settings = {**chosen["settings"], "validation_log_loss": round(chosen["loss"], 4), "tried": len(candidates)}
    model = make_pipeline(_tfidf(tuple(chosen["settings"]["ngram_range"])),
                          _logreg(chosen["settings"]["C"], len(labels)))
    return model, settings


def _score(problem: str, y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(pred == y)) if problem == "classification" else float(np.mean(np.abs(pred - y)))


def describe_text_settings(settings: Mapping[str, Any]) -> str:
    low, high = settings["ngram_range"]
    grams = "words" if high == 1 else f"word {low}-{high}-grams"
    return (f"TF-IDF + logistic regression, tuned on validation: {grams}, C={settings['C']:g}"
            f"{', sublinear tf' if settings.get('sublinear_tf') else ''}")


def _classical(split: SplitData, seed: int) -> tuple[str, str, Any, Any, dict[str, Any]]:
    """(name, description, model, feature function, settings chosen on validation) for the split's kind
    and problem."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OrdinalEncoder

    ds = split.dataset
    if ds.kind == "text" and ds.problem == "classification":
        model, settings = tuned_text_model(split)
        return "tfidf_logreg", describe_text_settings(settings), model, lambda x: list(x), settings
    if ds.kind == "image":
        scale = float(np.max(ds.x)) or 1.0
        model = LogisticRegression(max_iter=2000)
        return "pixels_logreg", "logistic regression on pixels", model, lambda x: x.reshape(len(x), -1) / scale, {}
    # Tables come with their gaps filled (``SplitData.x``); categories are compared as text, and a
    # category the training split never saw gets its own code.
    train = split.x("train")
    categorical = [c for c in ds.columns if not is_numeric(train[c])]
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(
        train[categorical].astype(str)) if categorical else None

    def features(frame: pd.DataFrame) -> np.ndarray:
        frame = frame.copy()
        if encoder is not None:
            frame[categorical] = encoder.transform(frame[categorical].astype(str))
        return frame.to_numpy(dtype="float64")

    gb = GradientBoostingClassifier if ds.problem == "classification" else GradientBoostingRegressor
    return "gradient_boosting", "gradient boosting (scikit-learn)", gb(random_state=seed), features, {}


def run_baselines(split: SplitData, seed: int) -> list[BaselineResult]:
    """The majority (or mean) predictor and the classical model, fitted on train (the text model's settings
    chosen on validation first)."""
    ds = split.dataset
    metric = "accuracy" if ds.problem == "classification" else "mean_absolute_error"
    majority = majority_baseline(split)
    out = [BaselineResult(majority["name"], f"always predicts {majority['prediction']!s:.40}", metric,
                          majority["validation"], majority["test"], 0.0)]
    t0 = time.monotonic()
    name, description, model, features, settings = _classical(split, seed)  # tuned on validation, never test
    model.fit(features(split.x("train")), split.y("train"))
    scores = {p: _score(ds.problem, split.y(p), model.predict(features(split.x(p)))) for p in ("validation", "test")}
    out.append(BaselineResult(name, description, metric, scores["validation"], scores["test"], time.monotonic() - t0,
                              settings))
    return out
