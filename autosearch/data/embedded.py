"""Embedded default data sets: text corpora shipped in the package, toy sets from scikit-learn (never downloaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autosearch.errors import DataError

CORPORA_DIR = Path(__file__).resolve().parent / "corpora"


@dataclass(frozen=True)
class TextCorpus:
    """A labelled text file of ``autosearch/data/corpora/`` (package data; see its NOTICE.md for the source)."""

    file: str
    text_column: str
    label_column: str
    doc: str
    labels: tuple[str, ...] | None = None  # the rows kept, by label (None: all)


TEXT_CORPORA = {
    "rotten_tomatoes": TextCorpus("rotten_tomatoes_corpus_full.csv.bz2", "text", "category",
                                  "Rotten Tomatoes review snippets, fresh/rotten (12,808 short texts)",
                                  labels=("fresh", "rotten")),  # plot summaries are left out
    "speeches": TextCorpus("political_data.csv.bz2", "text", "party",
                           "2012 US party convention speeches, democrat/republican (189 long texts)"),
    "debates": TextCorpus("presidential_debates_2016.csv.gz", "statement", "party",
                          "2016 US presidential debate statements, Democratic/Republican/Moderator (1,122 texts)"),
}


def corpus_file(name: str) -> Path:
    """The installed file of an embedded text corpus (shipped inside the package, never downloaded)."""
    path = CORPORA_DIR / name
    if not path.is_file():
        raise DataError(f"the embedded text data file {path} is missing from this installation; reinstall "
                        f"autosearch ('pip install .' from its source, or 'make install').")
    return path


def load_texts(name: str) -> tuple[pd.Series, pd.Series]:
    """(texts, labels) of the embedded text corpus ``name`` (a key of ``TEXT_CORPORA``)."""
    corpus = TEXT_CORPORA[name]
    frame = pd.read_csv(corpus_file(corpus.file), usecols=[corpus.text_column, corpus.label_column])
    if corpus.labels:
        frame = frame[frame[corpus.label_column].isin(corpus.labels)].reset_index(drop=True)
    return frame[corpus.text_column].astype(str), frame[corpus.label_column].astype(str)


def load_rotten_tomatoes() -> tuple[pd.Series, pd.Series]:
    """Review snippets labelled fresh/rotten."""
    return load_texts("rotten_tomatoes")


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
