"""Reload a bundle and serve predictions on raw inputs.

``load(path)`` verifies every file's checksum, then loads the model: the
native ``.keras`` file first, else the TensorFlow SavedModel, else H5 (or the
one ``format=`` names). ``.keras`` and H5 load with AutoKeras' custom objects
plus autosearch's own; the SavedModel through ``tf.saved_model.load``, which
needs none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from autosearch.data.convert import image_files, load_image, table_to_array, texts_to_array
from autosearch.errors import AutosearchError
from autosearch.export.bundle import BUNDLE_FORMAT, FORMAT_FILES, MANIFEST, file_digests
from autosearch.export.io import class_probabilities

PREFERENCE = ("keras", "saved_model", "h5")


class BundleError(AutosearchError):
    """A bundle is missing, damaged, or from a newer format."""


class InputError(AutosearchError):
    """Raw inputs do not fit the bundle's input schema."""


def custom_objects() -> dict[str, Any]:
    import autokeras as ak

    from autosearch.search.blocks import CUSTOM_OBJECTS

    return {**ak.CUSTOM_OBJECTS, **CUSTOM_OBJECTS}


def read_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle '{path}' not found; export one with 'autosearch export RUN_ID'.")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} has no {MANIFEST}; it is not an autosearch bundle (re-export it).")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path} is not valid JSON ({exc}); re-export the bundle.") from None
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {version!r} is newer than this autosearch reads ({BUNDLE_FORMAT}); "
            "upgrade autosearch."
        )
    return manifest


def verify_checksums(path: Path, manifest: Mapping[str, Any]) -> None:
    expected: Mapping[str, str] = manifest.get("files", {})
    actual = file_digests(Path(path))
    for rel, digest in expected.items():
        if rel not in actual:
            raise BundleError(f"{path}: file '{rel}' is missing; the bundle is incomplete, re-export it.")
        if actual[rel] != digest:
            raise BundleError(
                f"{path}: checksum mismatch for '{rel}' (sha256 {actual[rel][:12]}… != {digest[:12]}…); "
                "the file was changed or damaged, re-export the bundle."
            )


def _to_raw_array(kind: str, manifest: Mapping[str, Any], raw: Any) -> Any:
    """Raw inputs (list of texts, DataFrame, image array, file paths, CSV path) as AutoKeras takes them."""
    schema = manifest.get("input", {})
    if isinstance(raw, (str, Path)) and str(raw).lower().endswith(".csv"):
        path = Path(raw)
        if not path.is_file():
            raise InputError(f"input file '{path}' not found.")
        raw = pd.read_csv(path)
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
        if isinstance(raw, Mapping):
            raw = [raw]
        frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(list(raw))
        columns = schema.get("columns", [])
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"input is missing column(s) {missing}; the model needs: {', '.join(columns)}.")
        if len(frame) == 0:
            raise InputError("input is empty; give at least one row.")
        return table_to_array(frame[columns])
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


def _postprocess(manifest: Mapping[str, Any], pipeline: Any, raw_out: np.ndarray) -> np.ndarray:
    if manifest["problem"] == "classification":
        return class_probabilities(pipeline, raw_out, manifest["class_names"])
    return np.asarray(raw_out, dtype="float64").reshape(-1)


def model_outputs(model: Any, pipeline: Any, manifest: Mapping[str, Any], raw: Any, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (in class order) or regression values of an in-memory Keras model."""
    x = pipeline.transform_x(_to_raw_array(manifest["kind"], manifest, raw))
    return _postprocess(manifest, pipeline, model.predict(x, batch_size=batch_size, verbose=0))


class Predictor:
    """A reloaded bundle: ``predict`` and ``predict_proba`` on raw inputs."""

    def __init__(self, path: Path, manifest: Mapping[str, Any], fmt: str, model: Any, pipeline: Any):
        self.path, self.manifest, self.format = Path(path), dict(manifest), fmt
        self._model, self._pipeline = model, pipeline

    @property
    def class_names(self) -> list[str] | None:
        return self.manifest.get("class_names")

    def _call(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        if self.format != "saved_model":
            return self._model.predict(x, batch_size=batch_size, verbose=0)
        import tensorflow as tf

        dtype = self.manifest["model_input"]["dtype"]
        # Keras exports a functional model's inputs as a list: serve([tensor]).
        parts = [self._model.serve([tf.constant(x[i : i + batch_size], dtype=dtype)]).numpy()
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts)

    def outputs(self, raw: Any, batch_size: int = 1024) -> np.ndarray:
        x = self._pipeline.transform_x(_to_raw_array(self.manifest["kind"], self.manifest, raw))
        return _postprocess(self.manifest, self._pipeline, self._call(x, batch_size))

    def predict_proba(self, raw: Any, batch_size: int = 1024) -> np.ndarray:
        """(n, classes) probabilities, columns in ``class_names`` order."""
        if self.manifest["problem"] != "classification":
            raise InputError("predict_proba is for classifiers; this bundle is a regressor, use predict.")
        return self.outputs(raw, batch_size)

    def predict(self, raw: Any, batch_size: int = 1024) -> np.ndarray:
        """Class names (classification) or values (regression), one per input."""
        out = self.outputs(raw, batch_size)
        if self.manifest["problem"] == "classification":
            return np.array(self.class_names, dtype=object)[out.argmax(axis=1)]
        return out

    def __repr__(self) -> str:
        m = self.manifest
        return f"Predictor({m.get('trial_id')}, {m.get('task')}, format={self.format!r}, path='{self.path}')"


def load(path: str | Path, format: str | None = None) -> Predictor:
    """Reload a bundle written by ``autosearch export`` (or at the end of a search)."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_checksums(path, manifest)
    present = [f for f in PREFERENCE if f in manifest.get("formats", {})]
    if format is not None:
        if format not in FORMAT_FILES:
            raise BundleError(f"unknown format '{format}'; use one of {', '.join(PREFERENCE)}.")
        if format not in present:
            raise BundleError(f"{path} has no {format} model; it has: {', '.join(present)}.")
        fmt = format
    elif present:
        fmt = present[0]
    else:
        raise BundleError(f"{path}: the manifest lists no model file; re-export the bundle.")
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from autokeras import pipeline as ak_pipeline

    objects = custom_objects()
    pipeline = ak_pipeline.load_pipeline(str(path / manifest["preprocessing"]), custom_objects=objects)
    target = path / manifest["formats"][fmt]
    if fmt == "saved_model":
        import tensorflow as tf

        model = tf.saved_model.load(str(target))
    else:
        import keras

        model = keras.models.load_model(target, custom_objects=objects, compile=False)
    return Predictor(path, manifest, fmt, model, pipeline)


def iter_csv(path: Path, chunk_rows: int) -> Iterable[pd.DataFrame]:
    try:
        yield from pd.read_csv(path, chunksize=chunk_rows)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty; give a CSV with a header row and at least one row.") from None


