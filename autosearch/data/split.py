"""Split a data set into train / validation / test and fingerprint the split.

``SplitData`` is the partition the search uses; its fingerprint is a digest of
the rows, labels and split assignment, so a run can tell when its data changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data.convert import fill_missing
from autosearch.data.dataset import Dataset, load_dataset
from autosearch.data.impute import STRATEGY, fill_values, missing_counts
from autosearch.errors import DataError


def prepare_data(cfg: PipelineConfig) -> "SplitData":
    """Load and split the pipeline's data; raises ``DataError`` on bad input."""
    ds = load_dataset(cfg)
    return split_dataset(ds, cfg.split.validation, cfg.split.test, cfg.search.seed)


@dataclass(frozen=True)
class SplitData:
    dataset: Dataset
    indices: dict[str, np.ndarray]  # train / validation / test row indices
    fingerprint: str  # of the rows as read (gaps included)
    fill: Mapping[str, Any] | None = None  # tables: column -> value filling its gaps (``autosearch.data.impute``)

    def x(self, part: str) -> Any:
        """The part's inputs as every model takes them: a table's gaps filled with ``fill``."""
        return fill_missing(self.raw_x(part), self.fill) if self.fill else self.raw_x(part)

    def raw_x(self, part: str) -> Any:
        """The part's inputs as read (a table's gaps still empty)."""
        idx = self.indices[part]
        x = self.dataset.x
        return x.iloc[idx].reset_index(drop=True) if isinstance(x, pd.DataFrame) else x[idx]

    def y(self, part: str) -> np.ndarray:
        return self.dataset.y[self.indices[part]]

    def summary(self) -> dict[str, Any]:
        """Counts, baselines and fingerprint, as the tracker records them."""
        ds = self.dataset
        out: dict[str, Any] = {
            "name": ds.name,
            "fingerprint": self.fingerprint,
            "rows": {part: int(len(idx)) for part, idx in self.indices.items()},
            "source": ds.source,
        }
        if ds.class_names is not None:
            out["class_names"] = list(ds.class_names)
            out["class_counts"] = {
                part: {ds.class_names[c]: int(n) for c, n in zip(*np.unique(self.y(part), return_counts=True))}
                for part in self.indices
            }
        if self.fill is not None:
            out["missing_values"] = {"strategy": STRATEGY, "fill": dict(self.fill),
                                     "counts": missing_counts(self.dataset.x, self.indices)}
        out["baseline"] = majority_baseline(self)
        return out


MIN_TRAIN_ROWS = 8


def split_dataset(ds: Dataset, validation: float, test: float, seed: int) -> SplitData:
    """A train / validation / test split, stratified for classification, fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    n = len(ds)
    n_test, n_val = int(round(n * test)), int(round(n * validation))
    n_classes = len(ds.class_names or ())
    need = max(n_classes, 1)
    if n_test < need or n_val < need or n - n_test - n_val < max(MIN_TRAIN_ROWS, 2 * n_classes):
        raise DataError(
            f"{ds.name}: too few rows ({n}) for a {1 - test - validation:.0%}/{validation:.0%}/{test:.0%} "
            f"split{f' over {n_classes} classes' if n_classes else ''}; give more rows or larger split fractions."
            f"{_regression_hint(ds)}"
        )
    if n_classes:
        counts = np.bincount(ds.y, minlength=n_classes)
        if counts.min() < 3:
            rare = ds.class_names[int(counts.argmin())]
            raise DataError(
                f"{ds.name}: class '{rare}' has {int(counts.min())} row(s); each class needs at least 3 "
                f"(one per split). Add rows or drop the class.{_regression_hint(ds)}"
            )
    strat = ds.y if n_classes else None
    try:
        rest, test_idx = train_test_split(np.arange(n), test_size=n_test, random_state=seed, stratify=strat)
        strat_rest = ds.y[rest] if n_classes else None
        train_idx, val_idx = train_test_split(rest, test_size=n_val, random_state=seed, stratify=strat_rest)
    except ValueError as exc:  # scikit-learn cannot stratify these fractions
        raise DataError(f"{ds.name}: cannot split {n} rows {1 - test - validation:.0%}/{validation:.0%}/{test:.0%} "
                        f"by class ({exc}); give more rows or other split fractions.") from None
    indices = {"train": np.sort(train_idx), "validation": np.sort(val_idx), "test": np.sort(test_idx)}
    for part, idx in indices.items():
        missing = sorted(set(range(n_classes)) - set(ds.y[idx].tolist())) if n_classes else []
        if missing:
            raise DataError(f"{ds.name}: class '{ds.class_names[missing[0]]}' has no row in the {part} split; "
                            "give more rows of it or other split fractions.")
    fill = fill_values(ds.x, indices["train"], ds.name) if isinstance(ds.x, pd.DataFrame) else None
    return SplitData(ds, indices, fingerprint(ds, indices), fill)


def _regression_hint(ds: Dataset) -> str:
    """A hint when a table's label looks like a numeric target: many classes, all numbers."""
    names = ds.class_names or ()
    if ds.kind != "structured" or len(names) <= max(10, len(ds) // 5):
        return ""
    if not all(n.lstrip("-").replace(".", "", 1).isdigit() for n in names):
        return ""
    return (f" Its {len(names)} classes in {len(ds)} rows are numbers: for a numeric target use "
            "--pipeline structured_regression.")


def check_same_data(split: SplitData, run_id: str, recorded: str | None, fix: str) -> None:
    """The one data check of resume, export, reproduce and a joining worker: the rows read now must have the
    fingerprint the run recorded. ``fix`` says what to do instead (restore the data, or ...)."""
    if split.fingerprint != recorded:
        was = f"{recorded[:12]}…" if recorded else "none"
        raise DataError(f"the data of run {run_id} changed since it was recorded (fingerprint now "
                        f"{split.fingerprint[:12]}…, recorded {was}); {fix}.")


def _canonical_rows(x: Any, idx: np.ndarray) -> bytes:
    if isinstance(x, pd.DataFrame):
        rows = x.iloc[idx].astype(object).where(x.iloc[idx].notna(), None).to_numpy().tolist()
        return json.dumps(rows, default=str, separators=(",", ":")).encode()
    if x.dtype.kind in "US":
        return "\x1f".join(x[idx].tolist()).encode("utf-8")
    return np.ascontiguousarray(x[idx], dtype="<f4").tobytes()


def fingerprint(ds: Dataset, indices: dict[str, np.ndarray]) -> str:
    """sha256 over the rows, labels, class names and columns, part by part, in split order.

    The same file and split give the same digest in any process; one changed
    value, label or split assignment changes it.
    """
    digest = hashlib.sha256()
    header = {"kind": ds.kind, "problem": ds.problem, "classes": list(ds.class_names or ()),
              "columns": list(ds.columns)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for part in ("train", "validation", "test"):
        idx = indices[part]
        digest.update(f"|{part}:{len(idx)}|".encode())
        digest.update(_canonical_rows(ds.x, idx))
        digest.update(np.ascontiguousarray(ds.y[idx], dtype="<f8").tobytes())
    return digest.hexdigest()


def majority_baseline(split: SplitData) -> dict[str, Any]:
    """Score of always predicting the training majority class (or training mean)."""
    y_train = split.y("train")
    if split.dataset.problem == "classification":
        majority = int(np.bincount(y_train).argmax())
        return {
            "name": "majority", "metric": "accuracy",
            "prediction": split.dataset.class_names[majority],
            **{p: float(np.mean(split.y(p) == majority)) for p in ("validation", "test")},
        }
    mean = float(np.mean(y_train))
    return {
        "name": "mean", "metric": "mean_absolute_error", "prediction": mean,
        **{p: float(np.mean(np.abs(split.y(p) - mean))) for p in ("validation", "test")},
    }
