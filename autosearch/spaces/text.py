"""The model families of the ``text`` space, built from the word ids ``WordTokenizer`` emits (0 pads, 1 unknown).

- ``ngram``: a bag of word unigrams and hashed bigrams (fastText), each a learned vector, summed
  and divided by the square root of their number; the strongest family on small data.
- ``bag``: the average of the words' embeddings (``MaskedEmbeddingMean``).
- ``cnn``: embedding -> 1-D convolution -> global max pooling, over the first ``CNN_WINDOW`` words.
- ``rnn``: embedding -> bidirectional GRU, over the first ``RNN_WINDOW`` words.
- ``linear``: logistic regression in Keras: each word and hashed bigram present in a text, weighted
  by its inverse document frequency (fitted to the training texts) and l2-normalised per text, as
  TF-IDF rows are; the head's dense layer on these features is the linear model (no hidden layer).

Every layer here is registered Keras-serializable and computes its own padding mask: a Keras
mask would put a ``NotEqual`` op node into the legacy H5 config, which H5 cannot load back.
"""

from __future__ import annotations

from typing import Any, Callable

import keras

from autosearch.spaces.text_linear import NgramTfidf, SparseLinear, word_and_bigram_ids

FAMILIES = ("ngram", "bag", "cnn", "rnn", "linear")
EMBEDDING_FAMILIES = ["ngram", "bag", "cnn", "rnn"]  # the families with word vectors and a hidden dense layer
CNN_WINDOW = 512  # words a convolution reads: its cost grows with the length, the bag families' barely
RNN_WINDOW = 256  # words a recurrent layer reads: it steps through them one at a time
BUCKETS_PER_WORD, MAX_BUCKETS = 8, 1 << 18  # hashed bigram buckets: 8 per vocabulary word, at most 262,144
LINEAR_BUCKETS = MAX_BUCKETS  # the linear family's: fewer collisions (8 per word cost 1 point on Rotten Tomatoes)


@keras.utils.register_keras_serializable(package="autosearch")
class HashedNgramBag(keras.layers.Layer):
    """Sum of learned vectors of the words and of their hashed bigrams, over sqrt(count).

    Word ``i`` has row ``i``; the bigram ``(a, b)`` has row ``vocab_size + (a * p + b) mod buckets``.
    Pairs that touch padding are left out. Dividing by the square root of the count (not the count)
    keeps long documents' vectors from shrinking towards zero, as TF-IDF's l2 normalisation does.
    """

    def __init__(self, vocab_size: int, buckets: int, output_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.output_dim = int(vocab_size), int(buckets), int(output_dim)

    def build(self, input_shape: Any) -> None:
        self.embeddings = self.add_weight(name="embeddings", shape=(self.vocab_size + self.buckets, self.output_dim),
                                          initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, ids: Any) -> Any:
        grams = word_and_bigram_ids(ids, self.vocab_size, self.buckets)
        vectors = keras.ops.take(self.embeddings, grams, axis=0)
        mask = keras.ops.expand_dims(keras.ops.cast(keras.ops.not_equal(grams, 0), vectors.dtype), -1)
        return keras.ops.sum(vectors * mask, axis=1) / keras.ops.sqrt(keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets,
                "output_dim": self.output_dim}


@keras.utils.register_keras_serializable(package="autosearch")
class FirstTokens(keras.layers.Layer):
    """The first ``length`` word ids of each row (a slice in the graph would be an op node H5 cannot load)."""

    def __init__(self, length: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.length = int(length)

    def call(self, ids: Any) -> Any:
        return ids[:, : self.length]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        n = input_shape[1]
        return (input_shape[0], self.length if n is None else min(n, self.length))

    def get_config(self) -> dict:
        return {**super().get_config(), "length": self.length}


@keras.utils.register_keras_serializable(package="autosearch")
class EmbeddingBiGRU(keras.layers.Layer):
    """Embedding -> bidirectional GRU, the padding masked inside the layer; returns both final states."""

    def __init__(self, vocab_size: int, output_dim: int, units: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.vocab_size, self.output_dim, self.units = int(vocab_size), int(output_dim), int(units)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.output_dim, name="embedding")
        self.rnn = keras.layers.Bidirectional(keras.layers.GRU(self.units), name="bigru")

    def build(self, input_shape: Any) -> None:
        self.embedding.build(input_shape)
        self.rnn.build(tuple(input_shape) + (self.output_dim,))

    def call(self, ids: Any) -> Any:
        ids = keras.ops.cast(ids, "int32")
        return self.rnn(self.embedding(ids), mask=keras.ops.not_equal(ids, 0))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], 2 * self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size, "output_dim": self.output_dim,
                "units": self.units}


@keras.utils.register_keras_serializable(package="autosearch")
class MaskedEmbeddingMean(keras.layers.Layer):
    """Token embeddings averaged over the non-padding positions (id 0 pads).

    The same as ``Embedding(mask_zero=True)`` + ``GlobalAveragePooling1D``, but
    without a Keras mask: the mask becomes a ``NotEqual`` op node that the H5
    format writes and cannot read back.
    """

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)

    def build(self, input_shape: Any) -> None:
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.input_dim, self.output_dim), initializer="uniform")

    def call(self, ids: Any) -> Any:
        ids = keras.ops.cast(ids, "int32")
        vectors = keras.ops.take(self.embeddings, ids, axis=0)
        mask = keras.ops.expand_dims(keras.ops.cast(keras.ops.not_equal(ids, 0), vectors.dtype), -1)
        return keras.ops.sum(vectors * mask, axis=1) / keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}


def ngram_buckets(vocab_size: int) -> int:
    return min(BUCKETS_PER_WORD * int(vocab_size), MAX_BUCKETS)


def family_features(hp: Any, ids: Any, spec: dict, tune: Callable[[Any, str], Any], outputs: int = 1) -> Any:
    """The chosen family's text vector for word ids ``ids``; ``tune(hp, name)`` reads a ``[space]`` value;
    ``outputs``: the head's units (the ``linear`` family's vector has as many, so that it stays linear).

    Family-specific hyperparameters live in KerasTuner conditional scopes, so the tuner only varies
    those of the family a trial uses.
    """
    family = tune(hp, "family")
    vocab = int(spec["max_tokens"])
    if family == "linear":
        with hp.conditional_scope("family", ["linear"]):
            weighting = tune(hp, "linear_weighting")
        grams, weights = NgramTfidf(vocab, LINEAR_BUCKETS, weighting)(ids)
        return SparseLinear(vocab + LINEAR_BUCKETS, outputs)(grams, weights)
    with hp.conditional_scope("family", EMBEDDING_FAMILIES):
        dim = tune(hp, "embedding_dim")
    if family == "ngram":
        return HashedNgramBag(vocab, ngram_buckets(vocab), dim)(ids)
    if family == "bag":
        return MaskedEmbeddingMean(vocab, dim)(ids)
    if family == "cnn":
        with hp.conditional_scope("family", ["cnn"]):
            filters, width = tune(hp, "filters"), tune(hp, "kernel_size")
        x = keras.layers.Embedding(vocab, dim)(FirstTokens(CNN_WINDOW)(ids))
        x = keras.layers.Conv1D(filters, width, padding="same", activation="relu")(x)
        return keras.layers.GlobalMaxPooling1D()(x)
    if family == "rnn":
        with hp.conditional_scope("family", ["rnn"]):
            units = tune(hp, "rnn_units")
        return EmbeddingBiGRU(vocab, dim, units)(FirstTokens(RNN_WINDOW)(ids))
    raise ValueError(f"unknown text family {family!r}; use one of {', '.join(FAMILIES)}")
