"""The word tokenizer in TensorFlow ops: one implementation for training, the bundle's predictor and the
SavedModel's raw-input signature (imports TensorFlow).

A text is lower-cased (``tf.strings.lower``, UTF-8), every run of whitespace becomes one space, each mark
that is neither a word character nor whitespace becomes a token of its own, and the rest splits at the
spaces. RE2 reads ``\\w`` and ``\\s`` as ASCII only, so the classes are spelled in Unicode properties:

- version 1 (trials made before the SavedModel took raw text): Python's ``[\\w']+|[^\\w\\s]`` on
  ``str.lower()`` (``autosearch.spaces.words_v1.words``): word characters are letters, numbers, ``_`` and
  ``'``; a combining mark is a token of its own, as Python's ``\\w`` skips it. Training and the Python
  predictor keep the Python tokenizer; the graph spells the same classes (checked at export).
- version 2 (``CURRENT``): combining marks belong to their word, and Python normalises every text to NFC
  first; the graph cannot normalise, so its vocabulary also maps each word's NFD spelling to the word's id.
  Training and the Python predictor call the very ops the graph runs.

Whitespace is Python's: ``\\t\\n\\v\\f\\r``, ``\\x1c``-``\\x1f``, ``\\x85`` and the separators (``\\p{Z}``:
the non-breaking and ideographic spaces among them).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from autosearch.errors import ConfigError
from autosearch.spaces.words_v1 import words

CURRENT = 2  # the preprocessing version new runs record
VERSIONS = (1, 2)
WHITESPACE = r"\t\n\x0b\f\r\x1c-\x1f\x{85}\p{Z}"
# the same set but the ASCII space, spelled out (\p{Z} is the space and these): replacing only them is 10x
# cheaper than replacing every run of whitespace (a space replaced by a space at every word)
OTHER_WHITESPACE = r"\t\n\x0b\f\r\x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
WORD_CHARACTERS = {1: r"\p{L}\p{N}_'", 2: r"\p{L}\p{N}\p{M}_'"}


def check_version(version: Any) -> int:
    """``version`` as a known text preprocessing version; ``ConfigError`` naming the known ones otherwise."""
    if version not in VERSIONS:
        raise ConfigError(f"space.preprocessing = {version!r} is not a text preprocessing version; use one of "
                          f"{', '.join(map(str, VERSIONS))} (or \"auto\": the current one, {CURRENT}).")
    return int(version)


def split_words(texts: Any, version: int = CURRENT, lower: bool = True, marks: bool = True) -> Any:
    """A ``RaggedTensor`` of each text's tokens (``texts``: a string tensor of any length). ``marks=False``
    splits at whitespace only (AutoKeras' ``TextTokenizer``); ``lower=False`` keeps the case."""
    if lower:
        texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, f"[{OTHER_WHITESPACE}]", " ")  # split() collapses the spaces
    if marks:
        texts = tf.strings.regex_replace(texts, f"([^{WORD_CHARACTERS[check_version(version)]} ])", r" \1 ")
    return tf.strings.split(texts)


def nfc(texts: Iterable[Any]) -> list[str]:
    """Texts in Unicode's composed form (version 2 normalises before it tokenizes)."""
    return [unicodedata.normalize("NFC", str(t)) for t in texts]


def tokens(texts: Sequence[Any], version: int = CURRENT) -> list[list[str]]:
    """Each text's tokens as version ``version`` splits them in training (version 1: Python's regex)."""
    if check_version(version) == 1:
        return [words(str(t)) for t in texts]
    if not len(texts):
        return []
    ragged = split_words(tf.constant(nfc(texts), dtype=tf.string), version)
    return [[w.decode("utf-8") for w in row] for row in ragged.to_list()]


def count_words(texts: Sequence[Any], version: int = CURRENT, batch: int = 4096) -> tuple[Counter, list[int]]:
    """(each token's count, each text's token count) over ``texts``, split as version ``version`` does."""
    counts: Counter[str] = Counter()
    lengths: list[int] = []
    for start in range(0, len(texts), batch):
        for row in tokens(list(texts[start : start + batch]), version):
            counts.update(row)
            lengths.append(len(row))
    return counts, lengths


def lookup_keys(vocab: Mapping[str, int], version: int) -> tuple[list[str], list[int]]:
    """The graph's vocabulary: every word, and (version 2) its NFD spelling when that differs."""
    keys, ids = list(vocab), [int(i) for i in vocab.values()]
    if version >= 2:
        for word, i in vocab.items():
            spelled = unicodedata.normalize("NFD", word)
            if spelled != word and spelled not in vocab:
                keys.append(spelled)
                ids.append(int(i))
    return keys, ids


class TokenIds(tf.Module):
    """Texts (a string tensor ``[n]``) -> token ids ``int32 [n, length]``: the first ``length`` tokens,
    looked up in ``vocab`` (``unknown`` for a word it lacks), padded with 0."""

    def __init__(self, vocab: Mapping[str, int], length: int, version: int = CURRENT, *, unknown: int = 1,
                 lower: bool = True, marks: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.length, self.version, self.lower, self.marks = int(length), check_version(version), lower, marks
        keys, ids = lookup_keys(vocab, self.version) if vocab else ([""], [int(unknown)])
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), tf.constant(ids, tf.int64))
        self.table = tf.lookup.StaticHashTable(init, default_value=int(unknown))

    def __call__(self, texts: Any) -> Any:
        words = split_words(texts, self.version, self.lower, self.marks)
        ids = words.with_flat_values(tf.cast(self.table.lookup(words.flat_values), tf.int32))
        return ids.to_tensor(default_value=0, shape=[None, self.length])  # pads and cuts to the length

    def transform(self, texts: Sequence[Any]) -> np.ndarray:
        """Version 2's Python side: NFC, then the graph's own ops, eagerly."""
        if not len(texts):
            return np.zeros((0, self.length), dtype="int32")
        prepared = nfc(texts) if self.version >= 2 else [str(t) for t in texts]
        if getattr(self, "_compiled", None) is None:  # one graph for every call: eager ops cost 10x more
            self._compiled = tf.function(self.__call__, input_signature=[tf.TensorSpec([None], tf.string)])
        return self._compiled(tf.constant(prepared, dtype=tf.string)).numpy()
