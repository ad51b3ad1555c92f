"""The ``linear`` text family's layers: TF-IDF rows of word unigrams and hashed bigrams, in Keras.

``NgramTfidf`` turns the word ids ``WordTokenizer`` emits (0 pads, 1 unknown) into each text's
distinct n-gram ids and their weights: presence (binary tf) times the inverse document frequency,
l2-normalised per text. Its ``adapt`` fits the document frequencies to the training ids (AutoKeras
adapts a layer that reads the model's input before the first fit; the frequencies are a saved,
non-trainable weight, so an exported model carries them). Built without ``adapt``, every n-gram
weighs 1: plain binary features, still l2-normalised. ``SparseLinear`` maps the sparse row linearly
to as many values as the head has units (1 for two classes), gathering only the n-grams present; the
head's dense layer on them keeps the model linear: a logistic regression on TF-IDF features.

Both are registered Keras-serializable and use no Keras mask (H5 cannot load the mask's op node).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

ADAPT_BATCH = 1024  # rows per step when fitting the document frequencies
_PRIME = 1_000_003


def word_and_bigram_ids(ids: Any, vocab_size: int, buckets: int) -> Any:
    """Each row's word ids followed by its hashed bigram ids: the bigram ``(a, b)`` is
    ``vocab_size + (a * p + b) mod buckets``; 0 where a position or pair touches padding."""
    ids = keras.ops.cast(ids, "int32")
    first, second = ids[:, :-1], ids[:, 1:]
    paired = keras.ops.logical_and(keras.ops.not_equal(first, 0), keras.ops.not_equal(second, 0))
    key = (keras.ops.cast(first, "int64") * _PRIME + keras.ops.cast(second, "int64")) % buckets
    bigrams = keras.ops.where(paired, keras.ops.cast(key, "int32") + vocab_size, 0)
    return keras.ops.concatenate([ids, bigrams], axis=1)


def _first_occurrences(grams: Any) -> tuple[Any, Any]:
    """Each row's n-gram ids sorted, and where each id occurs for the first time (padding 0 never)."""
    ordered = keras.ops.sort(grams, axis=1)
    head = keras.ops.ones_like(ordered[:, :1], dtype="bool")
    changed = keras.ops.concatenate([head, keras.ops.not_equal(ordered[:, 1:], ordered[:, :-1])], axis=1)
    return ordered, keras.ops.logical_and(changed, keras.ops.not_equal(ordered, 0))


@keras.utils.register_keras_serializable(package="autosearch")
class NgramTfidf(keras.layers.Layer):
    """Word ids -> (distinct n-gram ids, their l2-normalised IDF weights), both ``(rows, 2 * length - 1)``.

    ``weighting``: ``"idf"`` (fitted by ``adapt``) or ``"binary"`` (every n-gram present weighs the same)."""

    def __init__(self, vocab_size: int, buckets: int, weighting: str = "idf", **kwargs: Any):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.weighting = int(vocab_size), int(buckets), str(weighting)

    @property
    def features(self) -> int:
        return self.vocab_size + self.buckets

    def build(self, input_shape: Any) -> None:
        self.idf = self.add_weight(name="idf", shape=(self.features,), initializer="ones", trainable=False)

    def grams(self, ids: Any) -> tuple[Any, Any]:
        return _first_occurrences(word_and_bigram_ids(ids, self.vocab_size, self.buckets))

    def adapt(self, data: Any) -> None:
        """Fit the inverse document frequencies, ``log((1 + n) / (1 + df)) + 1`` (scikit-learn's smoothed
        IDF), to ``data``: an array of word ids, or a dataset of batches of them (``binary``: kept at 1)."""
        if self.weighting == "binary":
            return
        if not self.built:
            self.build(None)
        df, rows = np.zeros(self.features, dtype="float64"), 0
        for batch in _batches(data):
            ordered, first = (keras.ops.convert_to_numpy(t) for t in self.grams(batch))
            np.add.at(df, ordered[first], 1.0)
            rows += len(ordered)
        self.idf.assign((np.log((1.0 + rows) / (1.0 + df)) + 1.0).astype("float32"))

    def call(self, ids: Any) -> tuple[Any, Any]:
        ordered, first = self.grams(ids)
        weights = keras.ops.where(first, keras.ops.take(self.idf, ordered, axis=0), 0.0)
        norm = keras.ops.sqrt(keras.ops.maximum(keras.ops.sum(weights * weights, axis=1, keepdims=True), 1e-12))
        return ordered, weights / norm

    def compute_output_shape(self, input_shape: Any) -> tuple:
        n = input_shape[1]
        shape = (input_shape[0], None if n is None else 2 * int(n) - 1)  # ints: numpy ones read as a structure
        return shape, shape

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets,
                "weighting": self.weighting}


def _batches(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        for start in range(0, len(data), ADAPT_BATCH):
            yield data[start:start + ADAPT_BATCH]
        return
    for batch in data:  # a tf.data.Dataset (of inputs, or of (inputs, targets))
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


@keras.utils.register_keras_serializable(package="autosearch")
class SparseLinear(keras.layers.Layer):
    """(n-gram ids, weights) -> ``units`` weighted sums of the n-grams' kernel rows: a linear map of the
    sparse TF-IDF row, computed by gathering only the rows present (no dense row of every feature)."""

    def __init__(self, features: int, units: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.features, self.units = int(features), int(units)

    def build(self, grams_shape: Any, weights_shape: Any = None) -> None:
        self.kernel = self.add_weight(name="kernel", shape=(self.features, self.units), initializer="zeros")

    def call(self, grams: Any, weights: Any) -> Any:
        rows = keras.ops.take(self.kernel, keras.ops.cast(grams, "int32"), axis=0)
        return keras.ops.sum(rows * keras.ops.expand_dims(weights, -1), axis=1)

    def compute_output_shape(self, grams_shape: Any, weights_shape: Any = None) -> tuple:
        return (grams_shape[0], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "features": self.features, "units": self.units}
