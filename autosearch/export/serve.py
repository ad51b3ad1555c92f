"""Batch predictions from a bundle to a CSV file, streaming large inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from autosearch.data.convert import image_files
from autosearch.errors import InputError
from autosearch.export.format import read_manifest
from autosearch.export.predictor import Predictor, iter_csv, load


def _frame(predictor: Predictor, inputs: object, keep: pd.DataFrame) -> pd.DataFrame:
    out = keep.reset_index(drop=True).copy()
    if predictor.manifest["problem"] == "classification":
        probs = predictor.predict_proba(inputs)
        names = predictor.class_names
        out["prediction"] = np.array(names, dtype=object)[probs.argmax(axis=1)]
        for i, name in enumerate(names):
            out[f"p_{name}"] = probs[:, i]
    else:
        out["prediction"] = predictor.predict(inputs)
    return out


def predict_file(bundle: Path, source: str, output: Path, fmt: str | None = None, batch_rows: int = 10_000) -> tuple[int, str]:
    """Predict every row (or image) of ``source`` into ``output``; returns (rows, format used).

    The CSV is written to a temporary file and renamed, so a failure leaves no
    partial output.
    """
    manifest = read_manifest(bundle)  # fail fast on a bad bundle, before reading inputs
    source_path = Path(source)
    if not source_path.exists():
        raise InputError(f"input '{source}' not found; give a CSV file, or image files / a folder for image models.")
    predictor = load(bundle, format=fmt)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    rows = 0
    try:
        if manifest["kind"] == "image" and source_path.suffix.lower() != ".csv":
            files = image_files(source_path)
            if not files:
                raise InputError(f"no image files in {source_path}.")
            for start in range(0, len(files), batch_rows):
                chunk = files[start : start + batch_rows]
                frame = _frame(predictor, [str(f) for f in chunk], pd.DataFrame({"path": [str(f) for f in chunk]}))
                frame.to_csv(tmp, mode="a", header=start == 0, index=False)
                rows += len(frame)
        else:
            for i, chunk in enumerate(iter_csv(source_path, batch_rows)):
                frame = _frame(predictor, chunk, chunk)
                frame.to_csv(tmp, mode="a", header=i == 0, index=False)
                rows += len(frame)
        if rows == 0:
            raise InputError(f"{source} has no rows to predict.")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return rows, predictor.format
