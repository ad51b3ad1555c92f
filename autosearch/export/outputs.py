"""Raw inputs -> model inputs -> readable outputs, the one path search scoring, export checks and
serving share. No TensorFlow here: the model is passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch.data.convert import (
    check_finite,
    fill_missing,
    image_files,
    load_image,
    split_inputs,
    table_to_array,
    texts_to_array,
    to_numbers,
)
from autosearch.data.impute import is_numeric
from autosearch.errors import InputError


def class_probabilities(pipeline: Any, raw: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Model outputs as an (n, classes) array in ``class_names`` order.

    AutoKeras orders its label encoder its own way and gives a binary head one
    sigmoid column; this maps both back to the data set's class order.
    """
    encoder = next(p for p in reversed(pipeline.outputs[0]) if hasattr(p, "labels"))
    labels = list(encoder.labels)
    raw = np.asarray(raw, dtype="float64").reshape(len(raw), -1)
    probs = np.hstack([1.0 - raw, raw]) if raw.shape[1] == 1 else raw
    return probs[:, [labels.index(name) for name in class_names]]


def to_raw_array(kind: str, manifest: Mapping[str, Any], raw: Any) -> Any:
    """Raw inputs (list of texts, DataFrame, image array, file paths, CSV path) as AutoKeras takes them."""
    schema = manifest.get("input", {})
    if isinstance(raw, (str, Path)) and str(raw).lower().endswith(".csv"):
        path = Path(raw)
        if not path.exists():
            raise InputError(f"input file '{path}' not found.")
        from autosearch.data.csvfile import read_csv_file

        raw = read_csv_file(path)
    if kind == "text":
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, pd.DataFrame):
            col = schema.get("text_column")
            if col not in raw.columns:
                if raw.shape[1] != 1:
                    raise InputError(f"input has no text column '{col}'; columns are: {', '.join(map(str, raw.columns))}.")
                col = raw.columns[0]
            raw = raw[col]
        texts = texts_to_array(list(raw))
        if len(texts) == 0:
            raise InputError("input is empty; give at least one text.")
        return texts
    if kind == "structured":
        return _table(schema, raw)
    # images
    shape = tuple(schema.get("image_shape", ()))
    if isinstance(raw, (str, Path)) or (isinstance(raw, (list, tuple)) and raw and isinstance(raw[0], (str, Path))):
        paths = [raw] if isinstance(raw, (str, Path)) else list(raw)
        files = [f for p in paths for f in image_files(Path(p))]
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            raise InputError(f"input image(s) not found: {', '.join(missing[:3])}.")
        if not files:
            raise InputError(f"no image files in {', '.join(map(str, paths))}.")
        return np.stack([load_image(f, shape[:2], channels=shape[2]) for f in files])
    if isinstance(raw, pd.DataFrame):
        raise InputError("image models take image files, a folder or an array (n, height, width, channels), "
                         "not a CSV table.")
    try:
        arr = np.asarray(raw, dtype="float32")
    except (TypeError, ValueError) as exc:
        raise InputError(f"images must be numeric arrays ({exc}).") from None
    if arr.ndim == len(shape):
        arr = arr[np.newaxis]
    if arr.ndim == 3 and len(shape) == 3 and shape[2] == 1:
        arr = arr[..., np.newaxis]
    if arr.shape[1:] != shape:
        raise InputError(f"images have shape {arr.shape[1:]}, the model takes {shape} (height, width, channels).")
    if len(arr) == 0:
        raise InputError("input is empty; give at least one image.")
    return arr


def _table(schema: Mapping[str, Any], raw: Any) -> np.ndarray:
    """Rows (DataFrame, dicts) in the training column order, gaps filled as in training, numeric columns
    numeric: a cell that holds no number, or an infinite one, is refused as training refuses it. A frame's
    ``attrs`` may name its ``source`` file and ``first_row`` (predict reads a file in chunks)."""
    if isinstance(raw, Mapping):
        raw = [raw]
    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(list(raw))
    where, first_row = str(frame.attrs.get("source", "input")), int(frame.attrs.get("first_row", 0))
    columns = schema.get("columns", [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{where} is missing column(s) {missing}; the model needs: {', '.join(columns)}.")
    if len(frame) == 0:
        raise InputError(f"{where} is empty; give at least one row.")
    frame = fill_missing(frame[columns], schema.get("fill"))
    dtypes = schema.get("dtypes", {})
    numeric = [c for c in columns if dtypes.get(c, "").startswith(("int", "uint", "float"))]
    converted = {c: to_numbers(frame[c].reset_index(drop=True), where, InputError, first_row).to_numpy()
                 for c in numeric if not is_numeric(frame[c])}
    frame = frame.assign(**converted) if converted else frame
    check_finite(frame, numeric, where, InputError, first_row)
    layout = schema.get("layout")  # a several-input graph: one array per input
    return split_inputs(frame, layout) if layout else table_to_array(frame)


def postprocess(manifest: Mapping[str, Any], pipeline: Any, raw_out: np.ndarray) -> np.ndarray:
    if manifest["problem"] == "classification":
        return class_probabilities(pipeline, raw_out, manifest["class_names"])
    return np.asarray(raw_out, dtype="float64").reshape(-1)


def model_outputs(model: Any, pipeline: Any, manifest: Mapping[str, Any], raw: Any, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (in class order) or regression values of an in-memory Keras model."""
    x = pipeline.transform_x(to_raw_array(manifest["kind"], manifest, raw))
    return postprocess(manifest, pipeline, model.predict(x, batch_size=batch_size, verbose=0))
