"""The fitted AutoKeras preprocessing of one model input, in TensorFlow ops (imports TensorFlow).

Each class reads the fitted steps of ``pipeline.inputs[0]`` and does in the graph what they do in Python:
``WordTokenizer`` (``autosearch.spaces.words_tf``: the same ops), AutoKeras' ``TextTokenizer``
(whitespace words, case kept, unknown = 0), ``CategoricalToNumerical`` (each categorical column's
training values in ``np.unique`` order, an unseen one = their number; numbers parsed, gaps filled as
training filled them) and image decoding. A step it does not know raises ``UnservableError``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import tensorflow as tf

from autosearch.errors import ExportError
from autosearch.spaces import words_tf

NUMERIC_DTYPES = ("int", "uint", "float", "bool")


class UnservableError(ExportError):
    """The fitted preprocessing has a step the graph does not implement (the bundle keeps ``serve`` only)."""


def safe_keys(columns: list[str]) -> dict[str, str]:
    """Signature keys for column names: letters, digits and ``_`` (TensorFlow Serving's JSON names them),
    starting with a letter, unique; key -> column."""
    keys: dict[str, str] = {}
    for column in columns:
        key = re.sub(r"[^A-Za-z0-9_]+", "_", str(column)).strip("_") or "column"
        key = key if key[0].isalpha() else f"c_{key}"
        base, n = key, 2
        while key.lower() in {k.lower() for k in keys}:
            key, n = f"{base}_{n}", n + 1
        keys[key] = str(column)
    return keys


def _unservable(step: Any) -> Exception:
    return UnservableError(f"the preprocessing step {type(step).__name__} has no TensorFlow version here")


class TextInputs(tf.Module):
    """``{"text": string [n]}`` -> token ids, as the fitted tokenizer makes them."""

    def __init__(self, steps: Sequence[Any]):
        super().__init__(name="text_inputs")
        self.ids = None
        self.version = 1
        for step in steps:
            name = type(step).__name__
            if name == "CastToString":
                continue
            if name == "WordTokenizer":
                self.version = int(getattr(step, "version", 1))
                self.ids = words_tf.TokenIds(step.vocab or {}, step.sequence_length, self.version)
            elif name == "TextTokenizer":
                self.ids = words_tf.TokenIds(step.vocab or {}, step.max_len, 1, unknown=0, lower=False, marks=False)
            else:
                raise _unservable(step)
        if self.ids is None:
            raise _unservable(None)

    def __call__(self, raw: Mapping[str, Any]) -> Any:
        return self.ids(raw["text"])

    def describe(self, key: str) -> dict[str, Any]:
        return {"what": "the text, UTF-8"}


class TableInputs(tf.Module):
    """One string per feature column -> the float32 row AutoKeras' ``CategoricalToNumerical`` makes."""

    def __init__(self, steps: Sequence[Any], schema: Mapping[str, Any]):
        super().__init__(name="table_inputs")
        encoders = [s for s in steps if type(s).__name__ == "CategoricalToNumerical"]
        if len(encoders) != 1 or len(steps) != 1:
            raise _unservable(next((s for s in steps if type(s).__name__ != "CategoricalToNumerical"), steps))
        step = encoders[0]
        columns = [str(c) for c in schema["columns"]]
        self.keys = safe_keys(columns)
        self.column_key = {c: k for k, c in self.keys.items()}
        dtypes, fill = schema.get("dtypes", {}), schema.get("fill") or {}
        floats = all(dtypes.get(c, "").startswith(NUMERIC_DTYPES) for c in columns)  # table_to_array: float32
        self.version = 1
        self.columns = []
        for column, encoding, encoder in zip(step.column_names, step.encoding, step.encoders):
            numeric = dtypes.get(str(column), "").startswith(NUMERIC_DTYPES)
            self.columns.append(_Column(str(column), numeric, floats, fill.get(str(column)),
                                        encoder.labels if encoding != "none" and encoder is not None else None))

    def __call__(self, raw: Mapping[str, Any]) -> Any:
        return tf.stack([c(raw[self.column_key[c.column]]) for c in self.columns], axis=1)

    def describe(self, key: str) -> dict[str, Any]:
        column = next(c for c in self.columns if c.column == self.keys[key])
        return {"column": column.column, "what": ("a number" if column.numeric else "a category") +
                ", as a string; \"\" is a missing value"}


class _Column(tf.Module):
    """One feature column: missing ("") -> the training fill; numbers parsed as float64 (pandas does) then
    float32; a categorical column -> the index of its value among the training values (unseen: their count)."""

    def __init__(self, name: str, numeric: bool, floats: bool, fill: Any, labels: Sequence[str] | None):
        super().__init__(name=None)
        self.column, self.numeric, self.floats = name, numeric, floats
        self.fill = fill
        self.labels = None if labels is None else list(labels)
        self.table = None
        if self.labels is not None and not numeric:
            init = tf.lookup.KeyValueTensorInitializer(tf.constant(self.labels, tf.string),
                                                       tf.range(len(self.labels), dtype=tf.int64))
            self.table = tf.lookup.StaticHashTable(init, default_value=len(self.labels))

    def __call__(self, s: Any) -> Any:
        missing = tf.equal(s, "")
        if not self.numeric:
            if self.labels is None:
                raise _unservable(self)
            text = tf.where(missing, str(self.fill if self.fill is not None else ""), s)
            return tf.cast(self.table.lookup(text), tf.float32)
        fill = tf.constant(float(self.fill) if self.fill is not None else 0.0, tf.float64)
        values = tf.where(missing, fill, tf.strings.to_number(tf.where(missing, "0", s), tf.float64))
        if self.labels is None:
            values = tf.cast(values, tf.float32)
            return tf.where(tf.math.is_nan(values), 0.0, values)
        dtype = tf.float32 if self.floats else tf.float64
        known = tf.constant([float(v) for v in self.labels], dtype)
        equal = tf.equal(tf.cast(values, dtype)[:, None], known[None, :])
        index = tf.where(tf.reduce_any(equal, axis=1), tf.argmax(tf.cast(equal, tf.int32), axis=1),
                         len(self.labels))
        return tf.cast(index, tf.float32)


class ImageInputs(tf.Module):
    """Encoded PNG/JPEG/GIF/BMP bytes -> float32 ``(n, height, width[, channels])``: decoded to the model's
    channels, resized (bicubic, antialiased) only when not at the model's size, rounded to whole values as
    Pillow's 8-bit images are."""

    def __init__(self, steps: Sequence[Any], shape: Sequence[int]):
        super().__init__(name="image_inputs")
        if steps:
            raise _unservable(steps[0])
        self.shape = [int(d) for d in shape]
        self.channels = self.shape[2] if len(self.shape) == 3 else 1
        self.version = 1

    def _one(self, data: Any) -> Any:
        image = tf.io.decode_image(data, channels=self.channels, expand_animations=False, dtype=tf.uint8)
        size = tf.shape(image)[:2]
        target = tf.constant(self.shape[:2], tf.int32)

        def resized() -> Any:
            out = tf.image.resize(tf.cast(image, tf.float32), target, method="bicubic", antialias=True)
            return tf.clip_by_value(tf.round(out), 0.0, 255.0)

        out = tf.cond(tf.reduce_all(tf.equal(size, target)), lambda: tf.cast(image, tf.float32), resized)
        out = tf.ensure_shape(out, [*self.shape[:2], self.channels])
        return out if len(self.shape) == 3 else out[..., 0]

    def __call__(self, raw: Mapping[str, Any]) -> Any:
        return tf.map_fn(self._one, raw["image_bytes"], fn_output_signature=tf.float32)

    def describe(self, key: str) -> dict[str, Any]:
        return {"what": f"an encoded PNG or JPEG image; resized to {self.shape[:2]} (height, width) when not that size"}
