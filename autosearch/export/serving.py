"""The SavedModel's signatures: ``serving_default`` on raw inputs, with the fitted preprocessing and the
readable outputs in the graph, and ``serve`` on the model's numeric inputs (imports TensorFlow).

``serving_default`` takes strings (text), one string per feature column (structured: an empty string is a
missing value, filled as training filled it), or encoded PNG/JPEG bytes (images), each of shape ``[None]``,
and answers ``probabilities`` (``float32 [None, classes]``, in ``class_names`` order) and ``class``
(``string [None]``), or ``value`` (``float32 [None]``) for regression. The graph loads with
``tf.saved_model.load`` alone and serves from TensorFlow Serving and ``saved_model_cli``; ``serve`` is the
Keras model's own signature, for converters (TFLite, TF.js) that take no string or lookup ops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from autosearch.export import serving_inputs as inputs
from autosearch.export.serving_inputs import UnservableError

RAW, NUMERIC = "serving_default", "serve"


class RawServing(tf.Module):
    """The Keras model behind the fitted preprocessing and the readable outputs, on raw inputs."""

    def __init__(self, model: Any, pipeline: Any, manifest: Mapping[str, Any]):
        super().__init__(name="raw_serving")
        self.model = model
        self.kind, self.problem = manifest["kind"], manifest["problem"]
        if manifest.get("input", {}).get("layout"):
            raise UnservableError("the model takes several inputs (a [graph] with several input nodes)")
        steps = list(pipeline.inputs[0])
        if self.kind == "text":
            self.prepare, self.keys = inputs.TextInputs(steps), {"text": None}
        elif self.kind == "structured":
            self.prepare = inputs.TableInputs(steps, manifest["input"])
            self.keys = self.prepare.keys
        else:
            self.prepare, self.keys = inputs.ImageInputs(steps, manifest["input"]["image_shape"]), {"image_bytes": None}
        if self.problem == "classification":
            labels = list(next(p for p in reversed(pipeline.outputs[0]) if hasattr(p, "labels")).labels)
            names = list(manifest["class_names"])
            order = [labels.index(n) for n in names]
            self.order = None if order == list(range(len(order))) else tf.constant(order, tf.int32)
            self.names = tf.constant(names, tf.string)
            self.sigmoid = int(model.outputs[0].shape[-1]) == 1  # one column for two classes

    def signature(self) -> list[dict[str, tf.TensorSpec]]:
        return [{key: tf.TensorSpec([None], tf.string, name=key) for key in self.keys}]

    def numeric(self, raw: Mapping[str, Any]) -> Any:
        """The model's inputs for raw inputs (a dict of string tensors keyed as the signature)."""
        return self.prepare(raw)

    def __call__(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        feed = tf.nest.pack_sequence_as(self.model.input, [self.numeric(raw)])
        out = tf.cast(self.model(feed, training=False), tf.float32)
        if self.problem != "classification":
            return {"value": tf.reshape(out, [-1])}
        probs = tf.concat([1.0 - out, out], axis=1) if self.sigmoid else out  # fixed when exported: no tf.cond
        if self.order is not None:
            probs = tf.gather(probs, self.order, axis=1)
        return {"probabilities": probs, "class": tf.gather(self.names, tf.argmax(probs, axis=1))}


def write_saved_model(model: Any, pipeline: Any, manifest: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The SavedModel at ``path`` with ``serve`` and, when the preprocessing allows, ``serving_default`` on raw
    inputs; returns how to call it (the manifest's ``serving`` entry)."""
    import keras
    from keras.src.export.export_utils import get_input_signature

    archive = keras.export.ExportArchive()
    archive.track_and_add_endpoint(NUMERIC, model, get_input_signature(model))
    try:
        raw = RawServing(model, pipeline, manifest)
    except UnservableError as exc:
        raw, reason = None, str(exc)
    if raw is not None:
        archive.track(raw)
        archive.add_endpoint(RAW, raw.__call__, input_signature=raw.signature())
    archive.write_out(str(path), verbose=False)
    numeric = {"signature": NUMERIC, "inputs": manifest_inputs(model)}
    if raw is None:
        return {"raw": None, "reason": f"{reason}: serving_default is the numeric signature",
                "numeric": numeric}
    outputs = ({"probabilities": "float32 [None, classes], columns in class_names order",
                "class": "string [None], the class name of the highest probability"}
               if manifest["problem"] == "classification" else {"value": "float32 [None]"})
    return {"raw": {"signature": RAW, "inputs": {k: {"dtype": "string", "shape": [None], **raw.prepare.describe(k)}
                                                 for k in raw.keys},
                    "outputs": outputs, "preprocessing_version": raw.prepare.version},
            "numeric": numeric}


def manifest_inputs(model: Any) -> list[dict[str, Any]]:
    return [{"dtype": str(t.dtype), "shape": [None if d is None else int(d) for d in t.shape]} for t in model.inputs]


def call_raw(loaded: Any, feed: Mapping[str, Any], batch: int = 1024) -> dict[str, np.ndarray]:
    """``serving_default`` of a loaded SavedModel on ``feed`` (key -> list of strings/bytes), in batches."""
    fn = loaded.signatures[RAW]
    rows = len(next(iter(feed.values())))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, rows, batch):
        out = fn(**{k: tf.constant(list(v[start : start + batch]), tf.string) for k, v in feed.items()})
        parts.append({k: t.numpy() for k, t in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
