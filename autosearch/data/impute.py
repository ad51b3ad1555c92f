"""Missing feature values of tables: what fills them.

A numeric column's gaps are filled with its median on the training split, a
categorical (text or boolean) column's with its most frequent training value
(ties: the smallest as text). Fill values are computed for every feature
column, with or without gaps, so rows given later (validation, test, serving)
can have gaps anywhere. They are computed once, on the training rows, and
travel with the run (its data summary) and the bundle (its input schema):
the baselines, the model, scoring and ``predict`` all fill the same values
(``autosearch.data.convert.fill_missing``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autosearch.data.convert import check_finite
from autosearch.errors import DataError

STRATEGY = "numeric: training-split median; categorical: training-split most frequent value"


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _most_frequent(values: pd.Series) -> Any:
    counts = values.value_counts(sort=False)
    top = counts[counts == counts.max()].index
    return _python(min(top, key=str))


def fill_values(x: pd.DataFrame, train_idx: np.ndarray, name: str) -> dict[str, Any]:
    """Per column, the value that fills its gaps, from the rows ``train_idx`` of ``x``."""
    train = x.iloc[train_idx]
    fill: dict[str, Any] = {}
    for column in x.columns:
        values = train[column].dropna()
        if values.empty:
            raise DataError(
                f"{name}: feature column '{column}' has no value in the training split ({len(train)} rows), "
                "so its gaps cannot be filled; fill more of it, or leave it out with --feature-columns."
            )
        fill[str(column)] = float(values.median()) if is_numeric(x[column]) else _most_frequent(values)
    return fill


def missing_counts(x: pd.DataFrame, indices: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Per column with gaps, how many rows of each split part lack a value."""
    gaps = x.isna()
    return {
        str(column): {part: int(gaps[column].to_numpy()[idx].sum()) for part, idx in indices.items()}
        for column in x.columns[gaps.any().to_numpy()]
    }


def check_features(x: pd.DataFrame, name: str) -> None:
    """Refuse feature columns nothing can fill (empty in every row) and infinite numbers."""
    empty = [str(c) for c in x.columns if x[c].isna().all()]
    if empty:
        raise DataError(
            f"{name}: feature column(s) {empty} are empty in every row; remove them from the file, or list the "
            "other columns with --feature-columns."
        )
    check_finite(x, [c for c in x.columns if is_numeric(x[c])], name)
