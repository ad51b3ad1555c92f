"""Reload a bundle and serve predictions on raw inputs.

``load(path)`` verifies every file's checksum, then loads the model: the
native ``.keras`` file first, else the TensorFlow SavedModel, else H5 (or the
one ``format=`` names). ``.keras`` and H5 load with AutoKeras' custom objects
plus autosearch's own; the SavedModel through ``tf.saved_model.load``, which
needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from autosearch.errors import BundleError, InputError
from autosearch.export.format import FORMAT_FILES, read_manifest, verify_checksums
from autosearch.export.outputs import postprocess, to_raw_array

PREFERENCE = ("keras", "saved_model", "h5")


def custom_objects() -> dict[str, Any]:
    import autokeras as ak

    from autosearch.spaces.blocks import CUSTOM_OBJECTS

    return {**ak.CUSTOM_OBJECTS, **CUSTOM_OBJECTS}


class Predictor:
    """A reloaded bundle: ``predict`` and ``predict_proba`` on raw inputs."""

    def __init__(self, path: Path, manifest: Mapping[str, Any], fmt: str, model: Any, pipeline: Any):
        self.path, self.manifest, self.format = Path(path), dict(manifest), fmt
        self._model, self._pipeline = model, pipeline

    @property
    def class_names(self) -> list[str] | None:
        return self.manifest.get("class_names")

    def _call(self, x: Any, batch_size: int) -> np.ndarray:
        """The model's outputs, a batch of ``batch_size`` rows at a time. Keras' ``predict()`` builds a dataset
        and an iterator on every call (55 ms measured: 18 rows/s at batch 1); one step per batch does not."""
        several = isinstance(x, (list, tuple))  # a functional model's inputs
        arrays = list(x) if several else [x]
        if not len(arrays[0]) and self.format != "saved_model":
            return self._model.predict(x, verbose=0)
        batches = [[a[i : i + batch_size] for a in arrays] for i in range(0, len(arrays[0]), batch_size)]
        if self.format != "saved_model":
            return np.concatenate([np.asarray(self._model.predict_on_batch(b if several else b[0])) for b in batches])
        import tensorflow as tf

        spec = self.manifest["model_input"]
        dtypes = [s["dtype"] for s in spec.get("inputs", [spec])]
        # Keras exports a functional model's inputs as a list: serve([tensor, ...]).
        return np.concatenate([self._model.serve([tf.constant(a, dtype=d) for a, d in zip(b, dtypes)]).numpy()
                               for b in batches])

    def outputs(self, raw: Any, batch_size: int = 1024) -> np.ndarray:
        x = self._pipeline.transform_x(to_raw_array(self.manifest["kind"], self.manifest, raw))
        return postprocess(self.manifest, self._pipeline, self._call(x, batch_size))

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


def load(path: str | Path, format: str | None = None, allow_modules: Iterable[str] | None = None) -> Predictor:
    """Reload a bundle written by ``autosearch export`` (or at the end of a search). The modules its manifest
    names are imported only when allowed (``export.trust``: the user's own code, or ``allow_modules``)."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_checksums(path, manifest)
    check_user_code(path, manifest.get("imports", []), allow_modules)
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
    from autosearch.export.trust import load_keras_model, load_preprocessing

    _import_user_code(path, manifest.get("imports", []))  # with their Keras layers registered
    objects = custom_objects()
    pipeline = load_preprocessing(path / manifest["preprocessing"], objects)  # Keras' safe mode
    target = path / manifest["formats"][fmt]
    if fmt == "saved_model":
        import tensorflow as tf

        model = tf.saved_model.load(str(target))
    else:
        model = load_keras_model(target, objects)  # Keras' safe mode
    return Predictor(path, manifest, fmt, model, pipeline)


def check_user_code(path: Path, modules: Iterable[str], allow: Iterable[str] | None = None) -> None:
    """Fail in one line, before TensorFlow loads, when a module the model was built from is not allowed
    (``export.trust``) or not importable."""
    import importlib.util

    from autosearch.export.trust import check_imports

    for module in check_imports(path, modules, allow):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise BundleError(f"{path}: the model needs module '{module}' (its search space's code) and it cannot "
                              "be imported; pip install its package or add its folder to PYTHONPATH.")


def _import_user_code(path: Path, modules: Iterable[str]) -> None:
    """Import the user's modules a bundle's model was built from, so that Keras finds their layers."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise BundleError(f"{path}: the model needs module '{module}' (its search space's code) and it cannot "
                              f"be imported ({exc}); pip install its package or add its folder to PYTHONPATH.") from None
