"""AutoKeras inputs, preprocessors and blocks of autosearch's search spaces.

They replace AutoKeras 3.0.0 defaults that measurably fail on small CPU
searches (see README, "AutoKeras 3.0.0 behaviours we work around"). All are
registered Keras-serializable under the ``autosearch`` package so that
AutoKeras can save and reload the graph and the fitted preprocessing.
"""

from __future__ import annotations

from typing import Any, Mapping

import autokeras as ak
import keras
import numpy as np
from autokeras import hyper_preprocessors, preprocessors
from autokeras.engine import preprocessor as ak_preprocessor

from autosearch.spaces import fitting, text, words_tf
from autosearch.spaces.text import MaskedEmbeddingMean
from autosearch.spaces.hp import tune

LINEAR_UNITS = 8  # the linear family's outputs when its head's units are unknown (a rank-8 linear model)


@keras.utils.register_keras_serializable(package="autosearch")
class WordTokenizer(ak_preprocessor.Preprocessor):
    """Lower-cased word tokenizer with a large vocabulary.

    AutoKeras' ``TextTokenizer`` keeps 500 case-sensitive whitespace tokens and
    maps unknown words to the padding id. This keeps ``max_tokens`` words
    (index 0 = padding, 1 = out of vocabulary) and splits off punctuation.
    ``version`` is the preprocessing version (``autosearch.spaces.words_tf``): a saved tokenizer without
    one is version 1, as every trial made before versions were recorded.
    """

    def __init__(self, max_tokens: int = 20000, sequence_length: int = 64, vocab: dict | None = None,
                 version: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.max_tokens = int(max_tokens)
        self.sequence_length = int(sequence_length)
        self.vocab = vocab
        self.version = words_tf.check_version(version)
        self._ids: Any = None

    @staticmethod
    def words(text: str) -> list[str]:
        return fitting.words(text)

    def fit(self, dataset: np.ndarray) -> None:
        counts, _ = words_tf.count_words(list(dataset), self.version)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_tokens - 2]
        self.vocab = {word: i + 2 for i, (word, _) in enumerate(ranked)}
        self._ids = None

    def token_ids(self) -> Any:
        """The graph's tokenizer (``words_tf.TokenIds``) for this vocabulary, built once."""
        if self._ids is None:
            self._ids = words_tf.TokenIds(self.vocab or {}, self.sequence_length, self.version)
        return self._ids

    def transform(self, dataset: np.ndarray) -> np.ndarray:
        if self.version >= 2:
            return self.token_ids().transform([str(t) for t in dataset])
        out = np.zeros((len(dataset), self.sequence_length), dtype="int32")
        for row, text in enumerate(dataset):
            ids = [self.vocab.get(w, 1) for w in self.words(str(text))][: self.sequence_length]
            out[row, : len(ids)] = ids
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_tokens=self.max_tokens, sequence_length=self.sequence_length, vocab=self.vocab,
                      version=self.version)
        return config


@keras.utils.register_keras_serializable(package="autosearch")
class WordTextInput(ak.TextInput):
    """TextInput whose fitted preprocessing is ``WordTokenizer`` of preprocessing version ``version``."""

    def __init__(self, max_tokens: int = 20000, sequence_length: int = 64, version: int = words_tf.CURRENT,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_tokens = int(max_tokens)
        self.sequence_length = int(sequence_length)
        self.version = words_tf.check_version(version)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_tokens=self.max_tokens, sequence_length=self.sequence_length, version=self.version)
        return config

    def get_hyper_preprocessors(self) -> list:
        return [
            hyper_preprocessors.DefaultHyperPreprocessor(preprocessors.CastToString()),
            hyper_preprocessors.DefaultHyperPreprocessor(WordTokenizer(
                max_tokens=self.max_tokens, sequence_length=self.sequence_length, version=self.version)),
        ]


class _SpecBlock(ak.Block):
    """A block whose hyperparameters come from a pipeline's ``[space]`` values."""

    def __init__(self, spec: Mapping[str, Any] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = dict(spec or {})

    def get_config(self) -> dict:
        config = super().get_config()
        config["spec"] = self.spec
        return config

    def hp(self, hp: Any, name: str) -> Any:
        return tune(hp, name, self.spec[name])

    def dense_head(self, hp: Any, x: Any, units_key: str = "dense_units") -> Any:
        x = keras.layers.Dropout(self.hp(hp, "dropout"))(x)
        units = self.hp(hp, units_key)
        if units:
            x = keras.layers.Dense(units, activation="relu")(x)
        return x


@keras.utils.register_keras_serializable(package="autosearch")
class EmbeddingPoolBlock(_SpecBlock):
    """Embedding -> average over the words: a fast, strong text baseline."""

    def build(self, hp: Any, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        x = MaskedEmbeddingMean(self.spec["max_tokens"], self.hp(hp, "embedding_dim"))(x)
        return self.dense_head(hp, x)


@keras.utils.register_keras_serializable(package="autosearch")
class TextFamilyBlock(_SpecBlock):
    """One of the text families (``autosearch.spaces.text``), chosen by the ``family`` hyperparameter.

    The ``linear`` family's values go straight to the head; the others' pass dropout and may pass a
    hidden dense layer first (``dropout`` and ``dense_units``: hyperparameters of theirs only)."""

    def build(self, hp: Any, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        x = text.family_features(hp, x, self.spec, self.hp, self.head_units())
        if self.hp(hp, "family") not in text.EMBEDDING_FAMILIES:  # ``linear``: straight to the head, linear
            return x
        with hp.conditional_scope("family", text.EMBEDDING_FAMILIES):
            return self.dense_head(hp, x)

    def head_units(self) -> int:
        """The units of the head this block feeds (1 for two classes), or ``LINEAR_UNITS`` when unknown."""
        heads = [b for node in getattr(self, "outputs", None) or () for b in node.out_blocks]
        shape = getattr(heads[0], "shape", None) if heads else None
        return int(shape[-1]) if shape else LINEAR_UNITS


@keras.utils.register_keras_serializable(package="autosearch")
class ConvImageBlock(_SpecBlock):
    """Normalization -> (3x3 conv, relu, 2x2 max pool) x n -> dense. Sized for small images."""

    def build(self, hp: Any, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        x = keras.layers.Normalization(axis=None)(x)
        filters = self.hp(hp, "filters")
        for i in range(self.hp(hp, "conv_blocks")):
            x = keras.layers.Conv2D(filters * 2**i, 3, padding="same", activation="relu")(x)
            if min(x.shape[1:3]) >= 2:
                x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
        return self.dense_head(hp, x)


@keras.utils.register_keras_serializable(package="autosearch")
class MLPBlock(_SpecBlock):
    """Normalization -> (dense, relu, dropout) x n for encoded tabular rows; with n = 0 the head's dense
    layer on the standardised features is a linear model (``units`` and ``dropout`` then unused, and
    inactive in KerasTuner's conditional scope, so the tuner does not vary them)."""

    def build(self, hp: Any, inputs: Any = None) -> Any:
        x = keras.tree.flatten(inputs)[0]
        x = keras.layers.Normalization()(x)
        layers = self.hp(hp, "layers")
        with hp.conditional_scope("layers", _hidden_layer_counts(self.spec["layers"])):
            units, dropout = self.hp(hp, "units"), self.hp(hp, "dropout")
        for _ in range(layers):
            x = keras.layers.Dense(units, activation="relu")(x)
            x = keras.layers.Dropout(dropout)(x)
        return x


def _hidden_layer_counts(value: Any) -> list[int]:
    """The non-zero layer counts a ``layers`` value (a number, a list or a ``{min, max, step}`` range) allows."""
    if isinstance(value, Mapping):
        value = list(range(int(value["min"]), int(value["max"]) + 1, int(value.get("step") or 1)))
    counts = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v]
    return counts or [-1]  # none: units and dropout are never active


def _head(problem: str) -> Any:
    if problem == "regression":
        return ak.RegressionHead(dropout=0.0, metrics=["mean_absolute_error"], name="target")
    return ak.ClassificationHead(dropout=0.0, name="target")


def _block_spec(params: Mapping[str, Any]) -> dict:
    return {k: v for k, v in params.items() if k not in ("optimizer", "learning_rate", "preprocessing")}


def _text_input(params: Mapping[str, Any]) -> Any:
    """The text input of a text space: its ``preprocessing`` setting is the fitted version (``"auto"``, not
    fitted: a run recorded before the setting existed, so version 1)."""
    version = params.get("preprocessing", words_tf.CURRENT)
    return WordTextInput(max_tokens=params["max_tokens"], sequence_length=params["sequence_length"],
                         version=1 if version == "auto" else version, name="text")


def text_embedding_pool(params: Mapping[str, Any], problem: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    node = _text_input(params)
    out = EmbeddingPoolBlock(spec=_block_spec(params), name="text_block")(node)
    return node, _head(problem)(out)


def text_families(params: Mapping[str, Any], problem: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    node = _text_input(params)
    out = TextFamilyBlock(spec=_block_spec(params), name="text_block")(node)
    return node, _head(problem)(out)


def image_conv(params: Mapping[str, Any], problem: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    node = ak.ImageInput(name="image")
    out = ConvImageBlock(spec=_block_spec(params), name="image_block")(node)
    return node, _head(problem)(out)


def structured_mlp(params: Mapping[str, Any], problem: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    node = ak.StructuredDataInput(column_names=list(columns) or None, name="table")
    out = MLPBlock(spec=_block_spec(params), name="table_block")(node)
    return node, _head(problem)(out)


CUSTOM_OBJECTS = {
    "WordTokenizer": WordTokenizer,
    "WordTextInput": WordTextInput,
    "EmbeddingPoolBlock": EmbeddingPoolBlock,
    "MaskedEmbeddingMean": MaskedEmbeddingMean,
    "TextFamilyBlock": TextFamilyBlock,
    "HashedNgramBag": text.HashedNgramBag,
    "FirstTokens": text.FirstTokens,
    "EmbeddingBiGRU": text.EmbeddingBiGRU,
    "NgramTfidf": text.NgramTfidf,
    "SparseLinear": text.SparseLinear,
    "ConvImageBlock": ConvImageBlock,
    "MLPBlock": MLPBlock,
}
