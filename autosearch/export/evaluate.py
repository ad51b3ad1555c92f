"""Score a model on the validation and test splits, and keep its predictions for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.data import SplitData
from autosearch.export.outputs import model_outputs


def score_model(model: Any, pipeline: Any, manifest: Mapping[str, Any],
                split: SplitData) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scores on validation and test (accuracy or MAE) and the outputs behind them.

    Goes through the same raw-input path as a reloaded bundle
    (``model_outputs``), so search, export and serving agree.
    """
    classification = manifest["problem"] == "classification"
    scores: dict[str, Any] = {"metric": "accuracy" if classification else "mean_absolute_error"}
    outputs = {}
    for part in ("validation", "test"):
        out = outputs[part] = model_outputs(model, pipeline, manifest, split.x(part))
        y = split.y(part)
        scores[part] = float(np.mean(out.argmax(axis=1) == y) if classification else np.mean(np.abs(out - y)))
    return scores, outputs


def write_predictions(split: SplitData, outputs: Mapping[str, np.ndarray], directory: Path) -> None:
    """``<directory>/<part>.csv``: row, true and predicted value, and class probabilities."""
    directory.mkdir(parents=True, exist_ok=True)
    ds = split.dataset
    for part, out in outputs.items():
        y = split.y(part)
        if ds.class_names is not None:
            names = np.array(ds.class_names, dtype=object)
            frame = pd.DataFrame({"row": split.indices[part], "y_true": names[y], "y_pred": names[out.argmax(axis=1)]})
            for i, name in enumerate(ds.class_names):
                frame[f"p_{name}"] = out[:, i]
        else:
            frame = pd.DataFrame({"row": split.indices[part], "y_true": y, "y_pred": out})
        path = directory / f"{part}.csv"
        tmp = path.with_suffix(".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
