"""Reference models scored on the same split as the search.

A majority-class (or mean) predictor, and one strong classical model per
data kind: TF-IDF + logistic regression for text, gradient boosting for
tables, logistic regression on pixels for images. scikit-learn only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

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


def _score(problem: str, y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(pred == y)) if problem == "classification" else float(np.mean(np.abs(pred - y)))


def _classical(split: SplitData, seed: int) -> tuple[str, str, Any, Any]:
    """(name, description, model, feature function) for the split's kind and problem."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    ds = split.dataset
    if ds.kind == "text":
        model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
        return "tfidf_logreg", "TF-IDF + logistic regression", model, lambda x: list(x)
    if ds.kind == "image":
        scale = float(np.max(ds.x)) or 1.0
        model = LogisticRegression(max_iter=2000)
        return "pixels_logreg", "logistic regression on pixels", model, lambda x: x.reshape(len(x), -1) / scale
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
    return "gradient_boosting", "gradient boosting (scikit-learn)", gb(random_state=seed), features


def run_baselines(split: SplitData, seed: int) -> list[BaselineResult]:
    """The majority (or mean) predictor and the classical model, fitted on train."""
    ds = split.dataset
    metric = "accuracy" if ds.problem == "classification" else "mean_absolute_error"
    majority = majority_baseline(split)
    out = [BaselineResult(majority["name"], f"always predicts {majority['prediction']!s:.40}", metric,
                          majority["validation"], majority["test"], 0.0)]
    name, description, model, features = _classical(split, seed)
    t0 = time.monotonic()
    model.fit(features(split.x("train")), split.y("train"))
    scores = {p: _score(ds.problem, split.y(p), model.predict(features(split.x(p)))) for p in ("validation", "test")}
    out.append(BaselineResult(name, description, metric, scores["validation"], scores["test"], time.monotonic() - t0))
    return out
